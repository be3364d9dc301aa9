// The runner (jobs/runtime/runner.ts): command job types, run as real programs under
// a real Supervisor with a private redis-server. The programs are the
// fixture types in test/fixtures/types (shell and Python).
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { useRedis } from "../support/redis.ts";
import { gate } from "../support/gate.ts";
import { launchApp, WITH_FIXTURE_TYPES, type TestApp } from "../support/app.ts";
import { hostPidOf, isAlive, processesOfJob } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";
import { BUILD_DIR } from "../../server/paths.ts";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import { JOB_TYPES as FIXTURE_TYPES } from "../fixtures/types/index.ts";
import { LOG_MAX_LINES, newJobId, UploadMissingError } from "../../jobs/core/store.ts";
import type { JobType } from "../../jobs/core/job-type.ts";

const fileRedis = { redis: useRedis(test) };
/** Each test starts an app with job processes: a few at a time. */
const apps = gate(4);

// PWD: its working folder, as bubblewrap sets it (jobs/runtime/box.ts).
const ALLOWED_ENV = new Set([
  "PATH",
  "LANG",
  "LC_ALL",
  "HOME",
  "PWD",
  "SIDEJOB_JOB_ID",
  "SIDEJOB_PARAMS",
  "SIDEJOB_OUTPUT_DIR",
  "SIDEJOB_FD",
]);

async function app(
  t: ExecutionContext,
  name: string,
  options: { env?: Record<string, string>; types?: readonly JobType[]; prefix?: string; takesJobs?: boolean } = {},
): Promise<TestApp> {
  await apps.enter(t);
  const a = await launchApp({
    redis: fileRedis.redis,
    name,
    prefix: options.prefix,
    takesJobs: options.takesJobs,
    env: { ...options.env },
    ...WITH_FIXTURE_TYPES,
    ...(options.types ? { types: options.types } : {}),
  });
  t.teardown(() => a.close());
  return a;
}

/** Queues a job of a type (as the server would after validating it) and lets the supervisor start it. */
async function submit(a: TestApp, type: string, params: Record<string, unknown> = {}): Promise<string> {
  const declared = [...JOB_TYPES, ...FIXTURE_TYPES].find((t) => t.name === type);
  const id = await a.store.create({ type, params, total: 0, queueMax: 1000, timeoutMs: declared?.timeoutMs });
  await a.supervisor.pump();
  return id;
}

/** Waits for the job's end, and for its process to have exited (its last log lines are written then). */
async function ended(a: TestApp, id: string, timeout = 15_000) {
  await a.waitForState(id, ["succeeded", "failed", "cancelled"], timeout);
  await a.supervisor.idle();
  return (await a.store.read(id, "all"))!;
}

interface Inspect {
  env: Record<string, string>;
  stdin: string;
  argv: string[];
  cwd: string;
  cwdEntries: string[];
  outputEntries: string[];
}

test("a program sees only the allow-listed environment, its parameters on stdin and in SIDEJOB_PARAMS, and a fresh working directory that is removed", async (t) => {
  const a = await app(t, "runner-env", { env: { LANG: "C.UTF-8" } });
  const first = await submit(a, "py-inspect", { word: "hello world" });
  const second = await submit(a, "py-inspect", { word: "again" });
  const job = await ended(a, first);
  const other = await ended(a, second);
  t.is(job.state, "succeeded", JSON.stringify(job));
  const seen = job.results[0] as Inspect;
  // Set by Python itself (LC_CTYPE), or by a pyenv shim if python3 on PATH is one: not by the runner
  // (the exact list is checked with env(1) below).
  const keys = Object.keys(seen.env).filter(
    (k) => k !== "LC_CTYPE" && !/^_?PYENV_/.test(k) && !(seen.env.PYENV_ROOT && ["PWD", "SHLVL"].includes(k)),
  );
  t.deepEqual(
    keys.filter((k) => !ALLOWED_ENV.has(k)),
    [],
    "nothing beyond the allow-list",
  );
  t.is(seen.env.REDIS_URL, undefined, "the server's settings stay out");
  t.is(seen.env.LANG, "C.UTF-8");
  t.is(seen.env.SIDEJOB_JOB_ID, first);
  t.is(seen.env.SIDEJOB_FD, "3");
  t.deepEqual(JSON.parse(seen.env.SIDEJOB_PARAMS!), { word: "hello world" });
  t.deepEqual(JSON.parse(seen.stdin), { word: "hello world" });
  t.deepEqual(
    seen.argv,
    ["hello world", "--literal", "{word}x"],
    "a {name} element is the value, as one argument; nothing else is replaced",
  );
  t.is(seen.env.HOME, seen.cwd);
  t.deepEqual(seen.cwdEntries, ["left-behind.txt"], "the working directory was empty before");
  t.deepEqual(seen.outputEntries, []);
  t.not(seen.cwd, (other.results[0] as Inspect).cwd, "each job has its own");
  t.false(fs.existsSync(seen.cwd), "the working directory is removed");
  t.false(fs.existsSync(seen.env.SIDEJOB_OUTPUT_DIR!), "the output directory is removed");
  t.true(seen.cwd.startsWith(path.join(os.tmpdir(), "sidejob-")));
});

test("a program's environment is exactly the allow-list: no setting or secret of the server", async (t) => {
  const a = await app(t, "runner-env-exact", { env: { LANG: "C.UTF-8" } });
  const id = await submit(a, "env", { word: "x" });
  const job = await ended(a, id);
  t.is(job.state, "succeeded");
  const names = (await a.store.readLog(id)).map((line) => line.split("=")[0]).sort();
  // PWD: its working folder, as bubblewrap sets it (the box, jobs/runtime/box.ts).
  t.deepEqual(names, ["HOME", "LANG", "PATH", "PWD", "SIDEJOB_FD", "SIDEJOB_JOB_ID", "SIDEJOB_OUTPUT_DIR", "SIDEJOB_PARAMS"]);
  // (A log line is cut at 256 characters.)
  t.true((await a.store.readLog(id)).some((line) => line.startsWith(`PATH=${process.env.PATH!.slice(0, 200)}`)));
});

for (const name of ["sh-happy", "py-happy"]) {
  test(`a ${name.startsWith("sh") ? "shell" : "Python"} program's progress, status, results, log and output file are recorded, and it succeeds`, async (t) => {
    const a = await app(t, `runner-${name}`);
    const id = await submit(a, name, { word: "bird" });
    const job = await ended(a, id);
    t.is(job.state, "succeeded", JSON.stringify(job));
    const log = await a.store.readLog(id);
    const files = await a.store.listFiles(id);
    if (name === "sh-happy") {
      t.is(job.done, 3);
      t.is(job.total, 3);
      t.is(job.status, "All done");
      t.deepEqual(job.results, [{ step: 1 }, { step: 2 }, { step: 3 }]);
      t.true(log.includes("starting"));
      t.true(log.includes("a note on stderr"));
      t.deepEqual(
        files.map((f) => f.name),
        ["hello.txt"],
      );
      t.is((await a.store.readFile(id, "hello.txt"))?.toString(), "hello from the shell\n");
    } else {
      t.is(job.done, 5);
      t.is(job.total, 5);
      t.is(job.status, "Finished all 5");
      t.deepEqual(
        job.results,
        [1, 2, 3, 4, 5].map((i) => ({ i, word: "bird" })),
      );
      t.true(log.includes("log line from python"));
      t.deepEqual(
        files.map((f) => f.name),
        ["report.csv"],
        "a name that is not plain and a symbolic link are skipped",
      );
      t.is((await a.store.readFile(id, "report.csv"))?.toString(), "i,square\n1,1\n2,4\n3,9\n4,16\n5,25\n");
      t.true(log.some((l) => /output file "bad name!\.txt" skipped/.test(l)));
      t.true(log.some((l) => /output file link\.txt skipped: not a regular file/.test(l)));
    }
  });
}

test("malformed lines on fd 3 are logged as warnings and the valid ones around them still count", async (t) => {
  const a = await app(t, "runner-garbage");
  const id = await submit(a, "py-garbage");
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.done, 2);
  t.is(job.total, 2);
  t.is(job.status, "Survived the garbage");
  t.deepEqual(job.results, ["kept"]);
  const warnings = (await a.store.readLog(id)).filter((l) => l.startsWith("sidejob: ignored a message on fd 3: "));
  t.is(warnings.length, 6, warnings.join("\n"));
  t.true(warnings.some((w) => w.includes("not JSON")));
  t.true(warnings.some((w) => w.includes("not a JSON object")));
  t.true(warnings.some((w) => w.includes('"done" must be a whole number')));
  t.true(warnings.some((w) => w.includes('"status" must be text')));
  t.true(warnings.some((w) => w.includes('no key it knows ("progres", "totl"; the keys are done, total, status, result, error)')));
  t.true(warnings.some((w) => w.includes("longer than 65536 bytes")));
});

test("a program that writes 10 MB of log succeeds and its log stays capped", async (t) => {
  const a = await app(t, "runner-loud");
  const id = await submit(a, "py-loud");
  const job = await ended(a, id, 30_000);
  t.is(job.state, "succeeded", JSON.stringify(job));
  const log = await a.store.readLog(id);
  t.true(log.length <= LOG_MAX_LINES);
  t.is(log.at(-1), "the last line");
  const bytes = await fileRedis.redis.client.memory("USAGE", `${a.prefix}:{jobs}:job:${id}:log`);
  t.true(Number(bytes) < 300_000, `the log takes ${bytes} bytes in Redis`);
});

test("a Python exception fails the job with reason exit-code, no error of its own, and the traceback as detail", async (t) => {
  const a = await app(t, "runner-crash");
  const id = await submit(a, "py-crash");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "exit-code");
  t.is(job.exitCode, 1);
  t.is(job.error, null, "stderr is not the program's message for people");
  t.regex(job.detail ?? "", /Traceback/);
  t.is(job.done, 1, "its message before the crash was applied");
});

test("a non-zero exit after an error message fails the job with reason job-error and that message", async (t) => {
  const a = await app(t, "runner-error");
  const id = await submit(a, "py-error");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "job-error");
  t.is(job.error, "No rows to read in the file");
  t.is(job.exitCode, 2);
});

test("a program that ignores fd 3 and exits non-zero fails with reason exit-code, its stderr kept as detail", async (t) => {
  const a = await app(t, "runner-exit");
  const id = await submit(a, "sh-exit");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "exit-code");
  t.is(job.exitCode, 3);
  t.is(job.error, null);
  t.regex(job.detail ?? "", /Disk quota exceeded/);
  t.true((await a.store.readLog(id)).includes("working"));
});

test("a program killed by a signal fails with reason signal and the signal's name", async (t) => {
  const a = await app(t, "runner-abort");
  const id = await submit(a, "py-abort");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "signal");
  t.is(job.signal, "SIGABRT");
});

test("an upload is handed to the program as a file named after its field, byte for byte, in SIDEJOB_INPUT_<FIELD>", async (t) => {
  const a = await app(t, "runner-upload");
  const id = newJobId();
  // 300 kB in uneven chunks, every byte value: the copy goes through several GETRANGE reads.
  const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256));
  for (let at = 0; at < content.length; at += 70_001) await a.store.appendUpload(id, "data", content.subarray(at, at + 70_001));
  const created = await a.store.create({
    id,
    uploads: ["data"],
    type: "py-input",
    params: { data: { name: "../../etc/passwd", size: content.length } },
    total: 0,
    queueMax: 100,
  });
  t.is(created, id);
  await a.supervisor.pump();
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  const { path: given, inode: _inode, ...result } = job.results[0] as { path: string; inode: number };
  t.deepEqual(result, {
    sha256: crypto.createHash("sha256").update(content).digest("hex"),
    size: content.length,
    file: "data",
    inputs: ["SIDEJOB_INPUT_DATA"],
    writable: false,
  });
  t.regex(given, /\/sidejob-jobs\/[^/]+\/input\/data$/, "a copy in the job's own folder");
  const key = `${a.prefix}:{jobs}:job:${id}:upload:data`;
  t.is(await fileRedis.redis.client.exists(key), 0, "the upload of a job that succeeded is deleted at its end");
});

test("a job whose upload is gone fails with reason spawn-failed, and its program never runs", async (t) => {
  // Queued where no instance takes it, so that nothing starts it before its upload is gone.
  const waiting = await app(t, "runner-upload-gone", { takesJobs: false });
  const id = newJobId();
  await waiting.store.appendUpload(id, "data", Buffer.from("x"));
  await waiting.store.create({
    id,
    uploads: ["data"],
    type: "py-input",
    params: { data: { name: "x.bin", size: 1 } },
    total: 0,
    queueMax: 100,
  });
  await waiting.store.deleteUploads(id, ["data"]);
  const a = await app(t, "runner-upload-gone", { prefix: waiting.prefix });
  await a.supervisor.pump();
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "spawn-failed");
  t.is(job.results.length, 0);
});

test("a job cannot be created when its upload is missing, and nothing is queued", async (t) => {
  const a = await app(t, "runner-upload-missing");
  const id = newJobId();
  await t.throwsAsync(a.store.create({ id, uploads: ["data"], type: "py-input", params: {}, total: 0, queueMax: 100 }), {
    instanceOf: UploadMissingError,
  });
  t.is(await a.store.read(id), null);
  t.is(await a.store.queueLength(), 0);
});

test("a program that is not on PATH fails the job with reason spawn-failed", async (t) => {
  const a = await app(t, "runner-missing");
  const id = await submit(a, "missing-program");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "spawn-failed");
  t.regex(job.detail ?? "", /ENOENT/);
});

test("cancelling a job stops its program and the program's own child, and records it cancelled", async (t) => {
  const a = await app(t, "runner-cancel", { env: { JOB_CANCEL_GRACE_MS: "10000" } });
  const id = await submit(a, "sh-grandchild");
  const running = await waitFor(
    async () => {
      const job = await a.store.read(id, "all");
      return job?.results.length ? job : null;
    },
    { message: "the program to tell its child's pid" },
  );
  const grandchild = hostPidOf(id, (running.results[0] as { pid: number }).pid)!;
  t.true(grandchild !== null && isAlive(grandchild));
  t.is((await a.store.cancel(id, 10_000)).outcome, "requested");
  const job = await ended(a, id);
  t.is(job.state, "cancelled");
  t.is(job.reason, "cancelled");
  t.false(isAlive(grandchild), "the grandchild is gone");
  t.false(isAlive(running.pid!), "the runner is gone");
  t.deepEqual(processesOfJob(id), [], "nothing of the job is left");
});

test("a program that ignores SIGTERM is killed after the grace, and the job ends cancelled", async (t) => {
  const a = await app(t, "runner-ignore-term", { env: { JOB_CANCEL_GRACE_MS: "30000" } });
  const id = await submit(a, "py-ignore-term");
  const running = await waitFor(
    async () => {
      const job = await a.store.read(id, "all");
      return job?.results.length ? job : null;
    },
    { message: "the program to start" },
  );
  const program = hostPidOf(id, running.results[0] as number)!;
  t.not(program, null);
  const requested = Date.now();
  await a.store.cancel(id, 30_000);
  const job = await ended(a, id);
  t.true(Date.now() - requested >= 2000, "SIGKILL only after the grace");
  t.is(job.state, "cancelled");
  t.is(job.reason, "cancel-killed");
  t.is(job.signal, "SIGKILL");
  t.false(isAlive(program));
});

test("a SIGTERM to the runner's process group, as the server sends it, stops the program and records the cancel that was asked for", async (t) => {
  const a = await app(t, "runner-sigterm", { env: { JOB_HEARTBEAT_MS: "60000" } });
  const id = await submit(a, "py-ignore-term");
  const running = await waitFor(
    async () => {
      const job = await a.store.read(id, "all");
      return job?.results.length ? job : null;
    },
    { message: "the program to start" },
  );
  const program = hostPidOf(id, running.results[0] as number)!;
  t.not(program, null);
  // The cancel is stored, but the runner only hears of it from a report (a minute away).
  await a.store.cancel(id, 60_000);
  process.kill(-running.pid!, "SIGTERM");
  const job = await ended(a, id);
  t.is(job.state, "cancelled");
  t.false(isAlive(program));
});

test("a program that runs past its type's time limit is stopped and the job fails with reason timeout", async (t) => {
  const a = await app(t, "runner-timeout");
  const id = await submit(a, "sh-slow");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "timeout");
  t.is(job.status, "sleeping");
});

test("a record whose type the runner does not know ends failed as unknown-type and runs nothing", async (t) => {
  const markerDir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-ghost-"));
  t.teardown(() => fs.rmSync(markerDir, { recursive: true, force: true }));
  const marker = path.join(markerDir, "ran");
  const ghost: JobType = { ...FIXTURE_TYPES[0]!, name: "ghost", run: { command: ["touch", marker] } };
  // The server knows the type (so it starts the runner), the runner's registry does not.
  const a = await app(t, "runner-unknown", { types: [...FIXTURE_TYPES, ghost] });
  const id = await submit(a, "ghost");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "unknown-type");
  t.not(job.pid, null, "the runner started");
  t.false(fs.existsSync(marker));
});

test("a record of a Node type given to the runner ends failed as spawn-failed and runs nothing", async (t) => {
  const a = await launchApp({ redis: fileRedis.redis, name: "runner-node-type", script: path.join(BUILD_DIR, "jobs", "runner.js") });
  t.teardown(() => a.close());
  const id = await submit(a, "count", { start: 1, end: 3, increment: 1 });
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "spawn-failed");
  t.is(job.done, 0);
});

test("the primes type finds the primes up to N in Python, with progress, a summary and primes.txt", async (t) => {
  const a = await app(t, "runner-primes");
  const id = await submit(a, "primes", { n: 1_000_000 });
  const job = await ended(a, id, 30_000);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.total, 1_000_000);
  t.is(job.done, 1_000_000);
  t.is(job.status, "Checked 1,000,000 of 1,000,000 numbers");
  t.like(job.results[0], { count: 78_498, largest: 999_983 });
  const text = (await a.store.readFile(id, "primes.txt"))!.toString();
  const primes = text.trim().split("\n").map(Number);
  t.is(primes.length, 78_498);
  t.deepEqual(primes.slice(0, 5), [2, 3, 5, 7, 11]);
  t.is(primes.at(-1), 999_983);
});

// Jobs in a box (jobs/runtime/box.ts, docs/job-types.md "Limits and
// isolation"), with real programs that misbehave as a buggy or hostile one
// would: each limit ends its job with its own reason while the server
// answers and a neighbour finishes; no network and a private filesystem
// view; nothing of a job left running, whatever it did to escape; what a job
// used recorded within 20% of the truth; a job resubmitted with more memory.
//
// The types are job.json folders (JOB_TYPES_DIR), as a deployment declares
// them. These tests need what .ci/run installs: bubblewrap and prlimit, and a
// writable cgroup (root here; see the docs for a delegated one).
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { useRedis } from "../support/redis.ts";
import { launchApp, type TestApp } from "../support/app.ts";
import { processesOfJob } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";
import { pythonTypesDir, type PythonType } from "../support/python-types.ts";
import { findCgroups } from "../../jobs/core/cgroups.ts";
import type { JobRecord } from "../../jobs/core/store.ts";

const redis = useRedis(test, { tcp: true });
const MiB = 1024 * 1024;

async function boxApp(t: ExecutionContext, name: string, types: PythonType[], env: Record<string, string> = {}): Promise<TestApp> {
  const a = await launchApp({ redis, name, env: { JOB_TYPES_DIR: pythonTypesDir(t, types), JOB_HEARTBEAT_MS: "1000", ...env } });
  t.teardown(() => a.close());
  return a;
}

/** Submits a job through the API, as a client does: its id. */
async function submit(a: TestApp, type: string, params: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${a.url}/jobs/new/${type}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(params),
  });
  if (res.status !== 202) throw new Error(`submit ${type}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function ended(a: TestApp, id: string, timeout = 60_000): Promise<JobRecord> {
  await a.waitForState(id, ["succeeded", "failed", "cancelled"], timeout);
  await a.supervisor.idle();
  return (await a.store.read(id, "all"))!;
}

/** The job's page, as a person reads it (tags dropped). */
async function pageText(a: TestApp, id: string): Promise<string> {
  return (await (await a.get(`/jobs/${id}`)).text()).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ");
}

const QUICK = 'import os; os.write(3, b\'{"done": 1, "total": 1}\\n\')\n';

test.before(() => {
  // What the host must offer for these tests to mean anything.
  if (!findCgroups()) throw new Error("no writable cgroup: run the tests as root or in a delegated cgroup");
});

test("a program allocating 1 GB under a 100 MB limit ends memory-limit, while a neighbour job finishes and the server answers", async (t) => {
  const a = await boxApp(t, "box-memory", [
    {
      name: "hog",
      limits: { memoryMB: 100 },
      script: "import time\nchunks = []\nfor i in range(1024):\n    chunks.append(bytearray(1024 * 1024))\ntime.sleep(30)\n",
    },
    { name: "neighbour", script: `import time\ntime.sleep(1)\n${QUICK}` },
  ]);
  const hog = await submit(a, "hog");
  const neighbour = await submit(a, "neighbour");
  const job = await ended(a, hog);
  t.is(job.state, "failed");
  t.is(job.reason, "memory-limit", JSON.stringify(job));
  t.is(job.limit, 100);
  t.true(job.usage!.peakMemoryBytes <= 100 * MiB + MiB, `peak ${job.usage!.peakMemoryBytes}`);
  t.is((await a.get("/healthz")).status, 200, "the server answers");
  t.is((await ended(a, neighbour)).state, "succeeded");
  const text = await pageText(a, hog);
  t.regex(text, /used more memory than its limit of 100 MB, so it was stopped/);
  t.regex(text, /ask this site(?:'|&#39;)s operators for a larger limit/);
  t.deepEqual(processesOfJob(hog), []);
});

test("a fork bomb under a process limit ends process-limit, and nothing of it is left", async (t) => {
  const a = await boxApp(t, "box-fork", [
    {
      name: "bomb",
      limits: { processes: 20 },
      script: "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n",
    },
  ]);
  const id = await submit(a, "bomb");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "process-limit", JSON.stringify(job));
  t.is(job.limit, 20);
  await waitFor(() => processesOfJob(id).length === 0, { message: "the job's processes to be gone", timeout: 5000 });
  t.pass();
});

test("a program writing past its output limit ends output-limit, and its files are not kept", async (t) => {
  const a = await boxApp(t, "box-output", [
    {
      name: "spill",
      limits: { outputMB: 5 },
      script:
        "import os, time\nd = os.environ['SIDEJOB_OUTPUT_DIR']\nfor i in range(20):\n    open(os.path.join(d, f'part{i}.bin'), 'wb').write(b'x' * 1048576)\n    time.sleep(0.05)\ntime.sleep(30)\n",
    },
  ]);
  const id = await submit(a, "spill");
  const job = await ended(a, id);
  t.is(job.reason, "output-limit", JSON.stringify(job));
  t.deepEqual(await a.store.listFiles(id), []);
});

test("a file past its size limit ends file-size-limit", async (t) => {
  const a = await boxApp(t, "box-fsize", [
    { name: "big", limits: { fileSizeMB: 2 }, script: "open('big.bin', 'wb').write(b'x' * 3 * 1048576)\n" },
  ]);
  const job = await ended(a, await submit(a, "big"));
  t.is(job.reason, "file-size-limit", JSON.stringify(job));
});

test("a CPU spinner ends cpu-limit", async (t) => {
  const a = await boxApp(t, "box-cpu", [{ name: "spin", limits: { cpuSeconds: 1 }, script: "while True:\n    pass\n" }]);
  const job = await ended(a, await submit(a, "spin"));
  t.is(job.reason, "cpu-limit", JSON.stringify(job));
  t.true(job.usage!.cpuMs >= 800, `cpu ${job.usage!.cpuMs} ms`);
});

test("with network: false a program reaches no address, not even the test's Redis; with true it does", async (t) => {
  const port = redis.port;
  // Loopback, and this host's own address on another interface when it has one.
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === "IPv4")?.address;
  const hosts = JSON.stringify(["127.0.0.1", ...(external ? [external] : [])]);
  const probe = `import socket, json, os\nok = []\nfor host in ${hosts}:\n    try:\n        socket.create_connection((host, ${port}), timeout=2).close(); ok.append(host)\n    except OSError as e:\n        pass\nos.write(3, (json.dumps({'result': ok}) + '\\n').encode())\n`;
  const a = await boxApp(t, "box-net", [
    { name: "offline", script: probe },
    { name: "online", isolation: { network: true }, script: probe },
  ]);
  const offline = await ended(a, await submit(a, "offline"));
  t.is(offline.state, "succeeded", JSON.stringify(offline));
  t.deepEqual(offline.results, [[]], "no connection succeeded");
  const online = await ended(a, await submit(a, "online"));
  t.true((online.results[0] as string[]).includes("127.0.0.1"), "the same program with network reaches Redis");
  // The test's own Redis is still reachable from here: the namespace is the program's.
  await new Promise<void>((resolve, reject) => net.connect(port, "127.0.0.1", resolve).once("error", reject));
});

test("with the private view a program reads its input but no canary the server can read, nor another job's folder", async (t) => {
  const canaryDir = fs.mkdtempSync(path.join(process.cwd(), ".box-canary-"));
  t.teardown(() => fs.rmSync(canaryDir, { recursive: true, force: true }));
  fs.chmodSync(canaryDir, 0o755);
  const canary = path.join(canaryDir, "secret.txt");
  fs.writeFileSync(canary, "canary", { mode: 0o644 });
  const reader = `import json, os, glob, time\nout = {}\nfor p in json.loads(os.environ['SIDEJOB_PARAMS'])['paths'].split('|'):\n    try:\n        out[p] = open(p).read()[:20]\n    except OSError as e:\n        out[p] = type(e).__name__\nout['input'] = open(os.environ['SIDEJOB_INPUT_DATA']).read()\nout['others'] = sorted(glob.glob('/tmp/sidejob-jobs/*'))\nos.write(3, (json.dumps({'result': out}) + '\\n').encode())\n`;
  const sleeper =
    "import os, time\nopen(os.path.join(os.environ['SIDEJOB_OUTPUT_DIR'], 'mine.txt'), 'w').write('neighbour')\nos.write(3, b'{\"status\": \"ready\"}\\n')\ntime.sleep(60)\n";
  const a = await boxApp(t, "box-view", [
    {
      name: "reader",
      script: reader,
      fields: [
        { name: "data", kind: "file", label: "Data", accept: [".txt"] },
        { name: "paths", kind: "text", label: "Paths", maxLength: 2000 },
      ],
    },
    { name: "sleeper", script: sleeper },
  ]);
  const neighbour = await submit(a, "sleeper");
  await waitFor(async () => (await a.store.read(neighbour))?.status === "ready", { message: "the neighbour to run", timeout: 30_000 });
  const neighbourDir = fs.readdirSync(path.join(os.tmpdir(), "sidejob-jobs")).find((d) => d.startsWith(`${neighbour}-`))!;
  const neighbourFile = path.join(os.tmpdir(), "sidejob-jobs", neighbourDir, "output", "mine.txt");
  t.is(fs.readFileSync(neighbourFile, "utf8"), "neighbour", "the server can read the neighbour's file");

  const form = new FormData();
  form.set("data", new Blob(["my input"], { type: "text/plain" }), "in.txt");
  form.set("paths", [canary, neighbourFile, path.join(process.cwd(), "package.json"), "/proc/1/environ"].join("|"));
  const res = await fetch(`${a.url}/jobs/new/reader`, { method: "POST", body: form, redirect: "manual" });
  t.is(res.status, 303);
  const id = res.headers.get("location")!.split("/").pop()!;
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  const seen = job.results[0] as Record<string, unknown>;
  t.is(seen.input, "my input", "its input is readable");
  t.is(seen[canary], "FileNotFoundError", "the canary is not in its view");
  t.is(seen[neighbourFile], "FileNotFoundError", "nor the other job's folder");
  t.is(seen[path.join(process.cwd(), "package.json")], "FileNotFoundError", "nor the checkout");
  t.not(seen["/proc/1/environ"], undefined);
  t.notRegex(String(seen["/proc/1/environ"]), /REDIS|SECRET|PASSWORD/);
  const others = (seen.others as string[]).map((d) => path.basename(d));
  t.deepEqual(
    others.filter((d) => !d.startsWith(`${id}-`)),
    [],
    "it sees its own folder, and no other job's",
  );
  await a.store.cancel(neighbour, 2000);
  await ended(a, neighbour);
});

test("nothing a job started is left 1 s after its end, whatever it did to escape (new session, double fork): success, cancel and timeout", async (t) => {
  // The child calls setsid() and forks again; the grandchild sleeps on.
  const escape = (then: string) =>
    `import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(120)\n    os._exit(0)\ntime.sleep(0.5)\nos.write(3, b'{"status": "escaped"}\\n')\n${then}`;
  const a = await boxApp(t, "box-escape", [
    { name: "quick", script: escape("") },
    { name: "slow", script: escape("time.sleep(120)\n") },
    { name: "late", timeoutMs: 3000, script: escape("time.sleep(120)\n") },
  ]);
  const gone = (id: string) =>
    waitFor(() => processesOfJob(id).length === 0, { message: `job ${id}'s processes to be gone`, timeout: 1000 });

  const quick = await submit(a, "quick");
  t.is((await ended(a, quick)).state, "succeeded");
  await gone(quick);

  const slow = await submit(a, "slow");
  await waitFor(async () => (await a.store.read(slow))?.status === "escaped", { message: "the escape", timeout: 30_000 });
  t.true(processesOfJob(slow).length >= 2, "the escaped grandchild runs");
  await a.store.cancel(slow, 5000);
  t.is((await ended(a, slow)).state, "cancelled");
  await gone(slow);

  const late = await submit(a, "late");
  t.is((await ended(a, late)).reason, "timeout");
  await gone(late);
});

test("what a job used is recorded within 20% of the truth: 300 MB held, 1 s of CPU, as the program itself counts them", async (t) => {
  // The truth: the program's own count (getrusage), which includes its start and its page faults besides the 1 s spin.
  const a = await boxApp(t, "box-usage", [
    {
      name: "known",
      script:
        "import json, os, resource, time\nb = bytearray(300 * 1048576)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nend = time.process_time() + 1.0\nwhile time.process_time() < end:\n    pass\nu = resource.getrusage(resource.RUSAGE_SELF)\nos.write(3, (json.dumps({'result': {'maxrss': u.ru_maxrss * 1024, 'cpuMs': (u.ru_utime + u.ru_stime) * 1000}}) + '\\n').encode())\n",
    },
  ]);
  const job = await ended(a, await submit(a, "known"));
  t.is(job.state, "succeeded", JSON.stringify(job));
  const own = job.results[0] as { maxrss: number; cpuMs: number };
  const { peakMemoryBytes, cpuMs } = job.usage!;
  const within = (value: number, truth: number) => Math.abs(value - truth) <= 0.2 * truth;
  t.true(within(peakMemoryBytes, 300 * MiB), `peak ${(peakMemoryBytes / MiB).toFixed(1)} MiB of 300 held`);
  t.true(
    within(peakMemoryBytes, own.maxrss),
    `peak ${(peakMemoryBytes / MiB).toFixed(1)} MiB, the program's own ${(own.maxrss / MiB).toFixed(1)}`,
  );
  t.true(within(cpuMs, own.cpuMs), `cpu ${cpuMs} ms, the program's own ${own.cpuMs.toFixed(0)} ms`);
  t.true(cpuMs >= 1000, "at least the spin");
});

test("a job that hit its memory limit is resubmitted once with its type's larger limit, and succeeds as attempt 2", async (t) => {
  const a = await boxApp(t, "box-resubmit", [
    {
      name: "grow",
      limits: { memoryMB: 100 },
      resubmit: { memoryMB: 400 },
      script: "b = bytearray(200 * 1048576)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\n",
    },
  ]);
  const id = await submit(a, "grow");
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.attempt, 2);
  t.is(job.attempts.length, 1);
  t.is(job.attempts[0]!.reason, "memory-limit");
  t.true(job.usage!.peakMemoryBytes > 150 * MiB);
  t.regex(await pageText(a, id), /Attempt 2/);
});

test("even with the host's network and files, a program reads no secret of the server or of its runner, and does not run as root", async (t) => {
  const secretFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-box-secret-")), "secret.env");
  fs.chmodSync(path.dirname(secretFile), 0o755);
  fs.writeFileSync(secretFile, "ADMIN_PASSWORD=hunter2\n", { mode: 0o600 });
  t.teardown(() => fs.rmSync(path.dirname(secretFile), { recursive: true, force: true }));
  const peek = `import glob, json, os\nfound = []\nfor f in glob.glob('/proc/[0-9]*/environ'):\n    try:\n        if b'REDIS' in open(f, 'rb').read():\n            found.append(f)\n    except OSError:\n        pass\ntry:\n    secret = open(${JSON.stringify(secretFile)}).read()\nexcept OSError as e:\n    secret = type(e).__name__\nos.write(3, (json.dumps({'result': {'found': found, 'pids': len(glob.glob('/proc/[0-9]*')), 'uid': os.getuid(), 'secret': secret}}) + '\\n').encode())\n`;
  const a = await boxApp(t, "box-secrets", [{ name: "peek", isolation: { network: true, filesystem: "host" }, script: peek }]);
  const job = await ended(a, await submit(a, "peek"));
  t.is(job.state, "succeeded", JSON.stringify(job));
  const seen = job.results[0] as { found: string[]; pids: number; uid: number; secret: string };
  t.deepEqual(seen.found, [], "no process it can see has Redis settings in its environment");
  t.true(seen.pids <= 3, `it sees only its own processes (${seen.pids})`);
  if (process.getuid?.() === 0) {
    t.not(seen.uid, 0, "not root");
    t.is(seen.secret, "PermissionError", "a file only root reads stays unread");
  }
});

test("a type whose isolation the host cannot give is not run (ISOLATION_UNAVAILABLE=refuse), as the job's page and /admin say; unconfined, it runs", async (t) => {
  const types: PythonType[] = [
    { name: "boxed", script: QUICK },
    { name: "open", isolation: { network: true, filesystem: "host" }, script: QUICK },
  ];
  const password = "box-admin-password";
  const refusing = await boxApp(t, "box-refuse", types, { BWRAP_PATH: "none", ADMIN_PASSWORD: password, SESSION_SECRET: "s".repeat(40) });
  const boxed = await submit(refusing, "boxed");
  const open = await ended(refusing, await submit(refusing, "open"));
  t.is(open.state, "succeeded", "a type that asks for no isolation runs anywhere");
  await refusing.supervisor.heartbeat();
  t.is((await refusing.store.read(boxed))!.state, "queued", "the boxed type's job waits");
  t.regex(await pageText(refusing, boxed), /No server runs boxed jobs right now/);
  const login = await refusing.post("/admin/login", { password, next: "/admin" });
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
  const admin = (await (await refusing.get("/admin", { Cookie: cookie })).text()).replace(/\s+/g, " ");
  t.regex(admin, /no bubblewrap/);
  t.regex(admin, /the type boxed is not run here: it asks for no network and a private filesystem, which needs bubblewrap/);

  const unconfined = await boxApp(t, "box-unconfined", types, { BWRAP_PATH: "none", ISOLATION_UNAVAILABLE: "unconfined" });
  t.is((await ended(unconfined, await submit(unconfined, "boxed"))).state, "succeeded");
});

test("a job that ran past its time limit is resubmitted once with its type's longer one, and succeeds as attempt 2", async (t) => {
  const a = await boxApp(t, "box-resubmit-time", [
    { name: "slowish", timeoutMs: 1500, resubmit: { timeoutMs: 20_000 }, script: `import time\ntime.sleep(3)\n${QUICK}` },
  ]);
  const job = await ended(a, await submit(a, "slowish"));
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.attempt, 2);
  t.is(job.attempts[0]!.reason, "timeout");
  t.is(job.timeoutMs, 20_000, "the record states the longer limit its second attempt had");
});

// FILE_STORE_DIR: uploads, output files and whole logs kept as files on a
// disk, Redis holding only what says they exist (jobs/core/store/file-dir.ts).
// Real files through the real form; Redis' own MEMORY USAGE says what it
// holds; a real tmpfs of 1 MiB is the full disk.
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { JobStore, newJobId } from "../../jobs/core/store.ts";
import { keysUnder, useRedis } from "../support/redis.ts";
import { startApp, WITH_FIXTURE_TYPES, type TestApp } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";
import { descendantsOf } from "../support/procs.ts";

const redis = useRedis(test);

/** A folder of the test's own, removed after it. */
function tempDir(t: ExecutionContext, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sidejob-files-${name}-`));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A folder for a gate file a program waits for: on the host's files, where the job's user may look. */
function gateDir(t: ExecutionContext): string {
  const dir = tempDir(t, "gate");
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** A file of a process under /proc (its cmdline, its wchan: where it sleeps), or "" once it is gone. */
function procFile(pid: number, name: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${name}`, "utf8");
  } catch {
    return "";
  }
}

/** An app of the fixture types whose files are kept in a folder of the test's own (FILE_STORE_DIR); the folder. */
async function diskApp(t: ExecutionContext, name: string, env: Record<string, string> = {}): Promise<{ a: TestApp; dir: string }> {
  const dir = tempDir(t, name);
  const a = await startApp(t, { redis, name, env: { FILE_STORE_DIR: dir, SHOW_JOB_INTERNALS: "true", ...env }, ...WITH_FIXTURE_TYPES });
  return { a, dir };
}

function postEcho(a: TestApp, content: Buffer, name = "input.bin"): Promise<Response> {
  const form = new FormData();
  form.set("data", new Blob([new Uint8Array(content)], { type: "application/octet-stream" }), name);
  return fetch(`${a.url}/jobs/new/py-echo`, { method: "POST", body: form, redirect: "manual" });
}

/** Submits a job of a fixture type with no fields; its id. */
async function submitTo(a: TestApp, type: string): Promise<string> {
  const res = await a.post(`/jobs/new/${type}`, {});
  if (res.status !== 303) throw new Error(`POST /jobs/new/${type} answered ${res.status}: ${await res.text()}`);
  return res.headers.get("location")!.split("/").pop()!;
}

async function ended(a: TestApp, id: string) {
  const job = await a.waitForState(id, ["succeeded", "failed", "cancelled"], 30_000);
  await a.supervisor.idle();
  return job;
}

/** The bytes Redis uses for every key under the app's prefix, by key. */
async function memoryOf(a: TestApp): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const key of await keysUnder(redis.client, a.prefix)) sizes.set(key, Number(await redis.client.memory("USAGE", key)));
  return sizes;
}

const bytesOf = async (res: Response) => Buffer.from(await res.arrayBuffer());

test("with FILE_STORE_DIR an upload, its job's output files and its whole log are files on the disk, no byte of them in Redis, and they download whole and in ranges", async (t) => {
  const { a, dir } = await diskApp(t, "files-disk");
  const content = crypto.randomBytes(2_500_017);
  const res = await postEcho(a, content);
  t.is(res.status, 303, await res.clone().text());
  const id = res.headers.get("location")!.split("/").pop()!;
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));

  const folder = path.join(dir, a.prefix, id);
  t.true(content.equals(fs.readFileSync(path.join(folder, "files", "echo.bin"))), "the output file is on the disk");
  t.regex(fs.readFileSync(path.join(folder, "log"), "utf8"), /log line 199 of the echo\n/);
  // Nothing in Redis holds them: every key of the job is small, the whole log has no key.
  const memory = await memoryOf(a);
  const largest = Math.max(...memory.values());
  t.true(largest < 64 * 1024, `the largest key takes ${largest} bytes: ${JSON.stringify([...memory])}`);
  t.deepEqual(
    [...memory.keys()].filter((k) => k.endsWith(":fulllog") || k.endsWith(":log")),
    [],
    "no key holds the log, whole or its last lines",
  );
  // The page's last lines are read from the disk.
  const read = (await a.store.read(id, "all", { logLines: 3 }))!;
  t.deepEqual(read.logTail, ["log line 197 of the echo", "log line 198 of the echo", "log line 199 of the echo"]);
  t.is(read.logCount, 200);
  t.regex(await (await a.get(`/jobs/${id}`)).text(), /log line 199 of the echo/);
  t.is(await redis.client.hget(a.store.jobKeys(id)[0] + ":files", "echo.bin"), String(content.length));

  const whole = await a.get(`/jobs/${id}/files/echo.bin`);
  t.is(whole.status, 200);
  t.is(whole.headers.get("content-length"), String(content.length));
  t.true(content.equals(await bytesOf(whole)));
  const part = await a.get(`/jobs/${id}/files/echo.bin`, { Range: "bytes=1000000-1999999" });
  t.is(part.status, 206);
  t.true(content.subarray(1_000_000, 2_000_000).equals(await bytesOf(part)));
  const log = await a.get(`/jobs/${id}/log`);
  t.is(log.status, 200);
  t.regex(await log.text(), /^log line 0 of the echo\n[\s\S]*log line 199 of the echo\n$/);
});

test("the program is handed the stored upload itself (the same file, linked into its folder for the job's user), read-only, and it is not copied", async (t) => {
  const { a, dir } = await diskApp(t, "files-in-place");
  const content = crypto.randomBytes(100_000);
  const form = new FormData();
  form.set("data", new Blob([new Uint8Array(content)]), "input.bin");
  const res = await fetch(`${a.url}/jobs/new/py-input`, { method: "POST", body: form, redirect: "manual" });
  t.is(res.status, 303);
  const id = res.headers.get("location")!.split("/").pop()!;
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  const stored = path.join(dir, a.prefix, id, "uploads", "data");
  t.like(job.results[0], {
    sha256: crypto.createHash("sha256").update(content).digest("hex"),
    size: content.length,
    inode: fs.statSync(stored).ino,
    writable: false,
  });
  t.is(fs.statSync(stored).mode & 0o222, 0, "no one may write it");
});

test.serial(
  "a program that writes faster than its log can be stored waits for it (its pipe is paused), and its whole log is kept",
  async (t) => {
    const { a } = await diskApp(t, "files-slow-log");
    const gate = path.join(gateDir(t), "go");
    const res = await a.post("/jobs/new/py-loud", { word: gate });
    t.is(res.status, 303);
    const id = res.headers.get("location")!.split("/").pop()!;
    const running = await a.waitForState(id, "running");
    // Its program started (it waits for the gate): the runner needs nothing more of Redis to run it.
    await waitFor(() => descendantsOf(running.pid!).some((pid) => /loud\.py/.test(procFile(pid, "cmdline"))), {
      message: "the program started",
    });
    // The store stops answering (a frozen Redis), then the program starts writing its 10 MB.
    process.kill(redis.pid!, "SIGSTOP");
    let frozen = true;
    t.teardown(() => frozen && process.kill(redis.pid!, "SIGCONT"));
    fs.writeFileSync(gate, "");
    // It blocks in a write to its stdout (a socket pair, as Node makes stdio pipes): the runner stopped
    // reading while the log waits to be stored.
    await waitFor(() => descendantsOf(running.pid!).some((pid) => /pipe_write|sock_alloc_send/.test(procFile(pid, "wchan"))), {
      message: () =>
        `the program blocked writing to its stdout: ${descendantsOf(running.pid!)
          .map((pid) => `${pid} ${procFile(pid, "cmdline")} ${procFile(pid, "wchan")}`)
          .join("; ")} (runner ${running.pid})`,
    });
    process.kill(redis.pid!, "SIGCONT");
    frozen = false;
    t.is((await ended(a, id)).state, "succeeded");
    const lines = (await (await a.get(`/jobs/${id}/log`)).text()).split("\n");
    t.is(lines.length, 100_003, "every line kept: the gate's, 100,000, the last, and the end");
    t.is(lines.at(-2), "the last line");
  },
);

test("a running job's page shows its log's last lines as they come, read from the disk", async (t) => {
  const { a } = await diskApp(t, "files-live-log");
  const gate = path.join(gateDir(t), "go");
  const res = await a.post("/jobs/new/py-loud", { word: gate });
  t.is(res.status, 303);
  const id = res.headers.get("location")!.split("/").pop()!;
  // Read through the page (its reads are cached until the job's record changes: server/job-cache.ts).
  const page = async () => (await a.get(`/jobs/${id}`)).text();
  await waitFor(async () => /waiting for the gate/.test(await page()), { message: "the page shows the first line" });
  t.is((await a.store.read(id, "auto"))!.state, "running");
  t.false(fs.existsSync(gate));
  fs.writeFileSync(gate, "");
  await ended(a, id);
  const html = await page();
  t.regex(html, /the last line/);
  t.notRegex(html, /waiting for the gate/, "only the last lines are shown");
  t.deepEqual(
    (await keysUnder(redis.client, a.prefix)).filter((k) => k.endsWith(":log")),
    [],
  );
});

test("a job's whole log of 100,000 lines downloads whole from the disk; in Redis it is cut at JOB_LOG_MAX_BYTES with a line that says so", async (t) => {
  const { a: onDisk } = await diskApp(t, "files-log");
  const id = await submitTo(onDisk, "py-loud");
  t.is((await ended(onDisk, id)).state, "succeeded");
  const text = await (await onDisk.get(`/jobs/${id}/log`)).text();
  const lines = text.split("\n");
  t.is(lines.length, 100_002, "100,000 lines, the last line, and the end");
  t.is(lines[0], "x".repeat(99));
  t.is(lines.at(-2), "the last line");

  const inRedis = await startApp(t, {
    redis,
    name: "files-log-redis",
    env: { JOB_LOG_MAX_BYTES: "100000", SHOW_JOB_INTERNALS: "true" },
    ...WITH_FIXTURE_TYPES,
  });
  const cut = await submitTo(inRedis, "py-loud");
  t.is((await ended(inRedis, cut)).state, "succeeded");
  const res = await inRedis.get(`/jobs/${cut}/log`);
  const body = await res.text();
  t.true(body.startsWith(`${"x".repeat(99)}\n`));
  t.true(body.endsWith("\n[the log was cut here: it reached JOB_LOG_MAX_BYTES, 100000 bytes]\n"), body.slice(-200));
  t.is(Buffer.byteLength(body), 100_000 + "\n[the log was cut here: it reached JOB_LOG_MAX_BYTES, 100000 bytes]\n".length);
});

test("two instances sharing one folder serve each other's files: uploaded through one, run by the other, downloaded through the first", async (t) => {
  const { a: runner, dir } = await diskApp(t, "files-shared");
  const front = await startApp(t, {
    redis,
    prefix: runner.prefix,
    env: { FILE_STORE_DIR: dir, SHOW_JOB_INTERNALS: "true" },
    takesJobs: false,
    ...WITH_FIXTURE_TYPES,
  });
  const content = crypto.randomBytes(300_000);
  const res = await postEcho(front, content);
  t.is(res.status, 303);
  const id = res.headers.get("location")!.split("/").pop()!;
  await runner.supervisor.pump();
  t.is((await ended(runner, id)).state, "succeeded");
  t.true(content.equals(await bytesOf(await front.get(`/jobs/${id}/files/echo.bin`))));
  t.regex(await (await front.get(`/jobs/${id}/log`)).text(), /log line 199 of the echo/);
});

test("the sweep removes the folder of a job Redis no longer names and of an upload whose server died, and keeps an upload in progress", async (t) => {
  const { a, dir } = await diskApp(t, "files-sweep");
  const content = crypto.randomBytes(50_000);
  const res = await postEcho(a, content);
  const id = res.headers.get("location")!.split("/").pop()!;
  t.is((await ended(a, id)).state, "succeeded");
  const root = path.join(dir, a.prefix);
  t.true(fs.existsSync(path.join(root, id)));

  // An upload whose server died mid-way: its key's TTL (a second here) runs out, its file stays.
  const dying = new JobStore(redis.client, { prefix: a.prefix, ttlSucceededS: 60, ttlFailedS: 60, fileDir: dir, uploadTtlS: 1 });
  const orphan = newJobId();
  await dying.appendUpload(orphan, "data", content, 0);
  // One in progress: its key lives.
  const alive = newJobId();
  await a.store.appendUpload(alive, "data", content, 0);
  await waitFor(async () => (await redis.client.exists(`${a.store.jobKeys(orphan)[0]}:upload:data`)) === 0, {
    message: "the dead upload's key expired",
  });
  // The ended job expires (its record goes as its TTL would take it).
  await redis.client.del(...a.store.jobKeys(id), `${a.store.jobKeys(id)[0]}:log`, `${a.store.jobKeys(id)[0]}:files`);

  const removed = await a.supervisor.sweepFiles();
  t.deepEqual(removed, { folders: 2, files: 0 });
  t.deepEqual(fs.readdirSync(root), [alive]);
  t.is(fs.statSync(path.join(root, alive, "uploads", "data")).size, content.length);
});

test("with the disk full an upload is refused with 507 and nothing is kept; a job whose output files do not fit fails and says why", async (t) => {
  if (process.getuid?.() !== 0) return t.fail("mounting a tmpfs needs root, as CI has");
  const dir = tempDir(t, "full");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", dir]);
  t.teardown(() => execFileSync("umount", ["-l", dir]));
  const a = await startApp(t, {
    redis,
    name: "files-full",
    env: { FILE_STORE_DIR: dir, SHOW_JOB_INTERNALS: "true" },
    ...WITH_FIXTURE_TYPES,
  });

  const big = await postEcho(a, crypto.randomBytes(2 * 1024 * 1024));
  t.is(big.status, 507);
  t.regex(await big.text(), /no room to keep the file/);
  t.deepEqual(fs.readdirSync(path.join(dir, a.prefix)), [], "nothing left on the disk");
  t.deepEqual(
    (await keysUnder(redis.client, a.prefix)).filter((k) => k.includes(":job:")),
    [],
    "nothing in Redis",
  );
  const json = await fetch(`${a.url}/jobs/new/py-echo`, {
    method: "POST",
    body: (() => {
      const form = new FormData();
      form.set("data", new Blob([new Uint8Array(crypto.randomBytes(2 * 1024 * 1024))]), "input.bin");
      return form;
    })(),
    headers: { Accept: "application/json" },
  });
  t.is(json.status, 507);
  t.like(await json.json(), { error: "file-store-full", status: 507 });

  // 400 kB in: its two copies out do not both fit in the rest of 1 MiB.
  const res = await postEcho(a, crypto.randomBytes(400_000));
  t.is(res.status, 303);
  const id = res.headers.get("location")!.split("/").pop()!;
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.like(job, { reason: "job-error", error: "The output file echo.csv could not be kept: the server's file store is full." });
});

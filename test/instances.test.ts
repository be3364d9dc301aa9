// Real server processes sharing one Redis: restarts, signals, several instances.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { startRedis, type TestRedis } from "./helpers/redis.ts";
import { uniquePrefix } from "./helpers/app.ts";
import { startServer, type ServerProcess } from "./helpers/server.ts";
import { isAlive } from "./helpers/procs.ts";
import { waitFor } from "./helpers/wait.ts";

let redis: TestRedis;
const servers: ServerProcess[] = [];
const pids: number[] = [];

test.before(async () => {
  redis = await startRedis({ appendonly: true });
});
test.after.always(async () => {
  for (const s of servers) s.kill("SIGKILL");
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await redis?.close();
});

function settings(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: redis.url,
    REDIS_PREFIX: uniquePrefix(name),
    JOB_LOG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-")),
    COUNT_STEP_DELAY_MS: "100",
    ...extra,
  };
}

async function server(env: Record<string, string>): Promise<ServerProcess> {
  const s = await startServer(env);
  servers.push(s);
  return s;
}

async function submit(s: ServerProcess, form: Record<string, string>): Promise<string> {
  const res = await fetch(`${s.url}/count`, { method: "POST", redirect: "manual", body: new URLSearchParams(form) });
  if (res.status !== 303) throw new Error(`POST /count: ${res.status}`);
  return res.headers.get("location")!.split("/").pop()!;
}

type Job = { state: string; pid: number | null; done: number; results: number[]; error: string | null; signal: string | null };
async function job(s: ServerProcess, id: string): Promise<Job> {
  const res = await fetch(`${s.url}/jobs/${id}`, { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`GET /jobs/${id}: ${res.status}`);
  return (await res.json()) as Job;
}
async function until(s: ServerProcess, id: string, state: string, timeout = 10_000): Promise<Job> {
  let last: Job | undefined;
  return waitFor(
    async () => {
      last = await job(s, id);
      return last.state === state ? last : null;
    },
    { timeout, message: () => `job ${id} to be ${state} (it is ${JSON.stringify(last)})` },
  );
}

test.serial("two instances share one Redis: submit on one, watch and cancel on the other", async (t) => {
  const env = settings("two");
  const a = await server(env);
  const b = await server(env);
  const quick = await submit(a, { start: "1", end: "5", increment: "1" });
  const done = await until(b, quick, "succeeded");
  t.deepEqual(done.results, [1, 2, 3, 4, 5]);
  t.regex(await (await fetch(`${b.url}/jobs/${quick}`)).text(), /5 values, from 1 to 5 by 1/);

  const slow = await submit(a, { start: "1", end: "1000", increment: "1" });
  const running = await until(b, slow, "running");
  pids.push(running.pid!);
  const res = await fetch(`${b.url}/jobs/${slow}/cancel`, { method: "POST", redirect: "manual" });
  t.is(res.status, 303);
  const cancelled = await until(a, slow, "cancelled");
  t.true(cancelled.done < 1000);
  a.kill();
  b.kill();
});

test.serial("a job killed after its server is gone is recorded lost by another instance within 10 s", async (t) => {
  const env = settings("lost");
  const a = await server(env);
  const b = await server(env);
  const id = await submit(a, { start: "1", end: "1000", increment: "1" });
  const running = await until(a, id, "running");
  pids.push(running.pid!);
  a.kill("SIGKILL");
  await a.exited;
  t.true(isAlive(running.pid!), "the job outlives its server");
  process.kill(running.pid!, "SIGKILL");
  const killedAt = Date.now();
  const lost = await until(b, id, "failed", 10_000);
  t.is(lost.error, "lost: the job's process stopped reporting");
  t.log(`recorded lost ${Date.now() - killedAt} ms after the kill`);
  b.kill();
});

test.serial("SIGKILL of the server mid-job: the job runs on, and a restarted server shows its result", async (t) => {
  const env = settings("restart");
  const first = await server(env);
  const id = await submit(first, { start: "1", end: "20", increment: "1" });
  const running = await until(first, id, "running");
  first.kill("SIGKILL");
  await first.exited;
  const second = await server({ ...env });
  const done = await until(second, id, "succeeded");
  t.is(done.results.length, 20);
  t.is(done.pid, running.pid);
  second.kill();
});

test.serial("SIGTERM: the server stops accepting, exits 0 within 5 s, and leaves the job running", async (t) => {
  const env = settings("sigterm");
  const s = await server(env);
  const id = await submit(s, { start: "1", end: "30", increment: "1" });
  const running = await until(s, id, "running");
  const sent = Date.now();
  s.kill("SIGTERM");
  const { code } = await s.exited;
  t.is(code, 0);
  t.true(Date.now() - sent < 5000, `exited after ${Date.now() - sent} ms`);
  t.true(isAlive(running.pid!), "the job is still running");
  await t.throwsAsync(fetch(`${s.url}/healthz`), undefined, "no longer accepting");
  const other = await server(env);
  const done = await until(other, id, "succeeded");
  t.is(done.results.length, 30);
  other.kill();
});

test.serial("Redis restarted mid-job: the job reconnects and finishes; nothing is lost or stuck", async (t) => {
  const env = settings("redis-restart", { COUNT_STEP_DELAY_MS: "150" });
  const s = await server(env);
  const id = await submit(s, { start: "1", end: "25", increment: "1" });
  await until(s, id, "running");
  await waitFor(async () => (await job(s, id)).done >= 3, { message: "a few values" });
  await redis.stop();
  await redis.start();
  const done = await until(s, id, "succeeded", 20_000);
  t.deepEqual(done.results, Array.from({ length: 25 }, (_, i) => i + 1));
  s.kill();
});

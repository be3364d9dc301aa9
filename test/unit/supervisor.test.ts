// The supervisor's signals, on real process groups: the SIGTERM → SIGKILL
// escalation, and kills of jobs whose server is gone (checked through /proc),
// whose bookkeeping must not grow without bound.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { connectRedis, waitUntilReady } from "../../jobs/core/redis.ts";
import { JobStore } from "../../jobs/core/store.ts";
import { loadConfig } from "../../server/config.ts";
import { readArgv } from "../../server/procfs.ts";
import { Supervisor, TERM_TO_KILL_MS } from "../../server/supervisor/index.ts";
import { Escalation, RemoteKills } from "../../server/supervisor/kills.ts";

const privateRedis = { redis: useRedis(test) };

/** Prints TERM for each SIGTERM and carries on: only SIGKILL ends it. */
const IGNORES_TERM = `trap 'echo TERM' TERM; echo ready; while :; do sleep 1; done`;
/** Ends on SIGTERM. Its `sleep` is reaped by init, which may take a while. */
const ENDS_ON_TERM = `echo ready; while :; do sleep 1; done`;
/** Ends on SIGTERM, a group of one process that this test process reaps at once. */
const ALONE_ENDS_ON_TERM = `echo ready; exec sleep 60`;
/** Ignores SIGTERM (silently), a group of one process. */
const ALONE_IGNORES_TERM = `trap '' TERM; echo ready; exec sleep 60`;

interface Group {
  pid: number;
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
}

const groups: Group[] = [];
test.after.always(() => {
  for (const group of groups) {
    try {
      process.kill(-group.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** A shell in its own process group (like a job process), with `args` in its argv. */
async function spawnGroup(script: string, args: string[] = []): Promise<Group> {
  const child = spawn("sh", ["-c", script, "sh", ...args], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const group: Group = {
    pid: child.pid!,
    child,
    output: () => out,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
  };
  groups.push(group);
  await waitFor(() => out.includes("ready"), { timeout: 5000, message: "the shell to be ready" });
  return group;
}

async function connectStore(): Promise<{ store: JobStore; prefix: string; close: () => void }> {
  const url = privateRedis.redis.url;
  const redis = connectRedis(url, "web");
  await waitUntilReady(redis, url, 5000);
  const prefix = `t-supervisor-${crypto.randomBytes(3).toString("hex")}`;
  return { store: new JobStore(redis, { prefix, ttlSucceededS: 60, ttlFailedS: 60 }), prefix, close: () => redis.disconnect() };
}

/**
 * A running job claimed by another instance (as if its server were gone), with
 * a process group of its own, a cancel requested and its grace run out: it is
 * due for a kill. `argvId` is what the process has in its argv (its own id
 * unless a pid was reused), `host` where the job is recorded to run.
 */
async function dueRemoteJob(
  store: JobStore,
  script: string,
  { host = os.hostname(), argvId }: { host?: string; argvId?: string } = {},
): Promise<{ id: string; group: Group }> {
  const id = await store.create({ type: "count", params: {}, total: 1, queueMax: 1000 });
  const claimed = await store.claim("another-instance", 60_000, ["count"], ["count"]);
  if (claimed?.id !== id) throw new Error(`claimed ${JSON.stringify(claimed)} instead of ${id}`);
  const group = await spawnGroup(script, [argvId ?? id]);
  const started = await store.start(id, group.pid, host, 60_000);
  if (!started.ok) throw new Error(`could not start ${id}: ${started.state}`);
  await store.cancel(id, 0);
  return { id, group };
}

test("readArgv reads a live process's argv, and null for no such process", async (t) => {
  const group = await spawnGroup(ENDS_ON_TERM, ["some-job-id"]);
  t.deepEqual(readArgv(group.pid), ["sh", "-c", ENDS_ON_TERM, "sh", "some-job-id"]);
  process.kill(-group.pid, "SIGKILL");
  await group.exited;
  t.is(readArgv(group.pid), null);
});

test("an escalation sends SIGTERM, then SIGKILL after TERM_TO_KILL_MS to a group that ignores SIGTERM", async (t) => {
  const group = await spawnGroup(IGNORES_TERM);
  const sent = Date.now();
  const escalation = new Escalation(group.pid);
  await waitFor(() => group.output().includes("TERM"), { timeout: TERM_TO_KILL_MS, message: "the shell to get SIGTERM" });
  t.true(group.running(), "SIGTERM alone did not end it");
  t.is(await escalation.ended, "killed");
  t.true(Date.now() - sent >= TERM_TO_KILL_MS - 5, `SIGKILL after ${Date.now() - sent} ms`);
  t.is((await group.exited).signal, "SIGKILL");
});

test("an escalation ends early, without SIGKILL, when the group ends on SIGTERM", async (t) => {
  const group = await spawnGroup(ALONE_ENDS_ON_TERM);
  const sent = Date.now();
  const escalation = new Escalation(group.pid);
  t.is(await escalation.ended, "gone");
  const took = Date.now() - sent;
  t.true(took < TERM_TO_KILL_MS, `ended after ${took} ms`);
  t.log(`ended ${took} ms after SIGTERM`);
  t.is((await group.exited).signal, "SIGTERM");
});

test("a cancelled escalation sends nothing more, and one for a group already gone ends at once", async (t) => {
  const group = await spawnGroup(ALONE_IGNORES_TERM);
  const escalation = new Escalation(group.pid);
  escalation.cancel();
  t.is(await escalation.ended, "cancelled");
  t.true(group.running());
  process.kill(-group.pid, "SIGKILL");
  await group.exited;
  t.is(await new Escalation(group.pid).ended, "gone");
  t.is(await new Escalation(0).ended, "gone", "pid 0 (never started) signals nothing");
});

test("remote kills: never more than the cap in flight, every candidate killed in the end, and nothing left", async (t) => {
  const { store, close } = await connectStore();
  t.teardown(close);
  const kills = new RemoteKills({ store, log: () => {}, max: 3 });
  t.teardown(() => kills.close());
  const jobs = await Promise.all(Array.from({ length: 7 }, (_, i) => dueRemoteJob(store, i % 2 ? ENDS_ON_TERM : IGNORES_TERM)));
  let most = 0;
  let rounds = 0;
  await waitFor(
    async () => {
      rounds++;
      for (const id of await store.dueKills()) {
        await kills.kill(id);
        most = Math.max(most, kills.size);
      }
      return jobs.every(({ group }) => !group.running()) && kills.size === 0;
    },
    { timeout: 30_000, message: () => `every candidate killed (in flight: ${kills.size})` },
  );
  t.true(most <= 3, `at most ${most} in flight`);
  t.is(most, 3, "the cap was reached");
  t.log(`${rounds} rounds`);
  for (const [i, { group }] of jobs.entries()) {
    t.is((await group.exited).signal, i % 2 ? "SIGTERM" : "SIGKILL");
  }
  // Still due (nobody recorded their end), but nothing is signalled or kept.
  t.is((await store.dueKills()).length, jobs.length);
  for (const id of await store.dueKills()) await kills.kill(id);
  t.is(kills.size, 0);
});

test("the supervisor kills due jobs of a gone server on this host only, and forgets them once killed", async (t) => {
  const { store, prefix, close } = await connectStore();
  t.teardown(close);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-"));
  t.teardown(() => fs.rmSync(logDir, { recursive: true, force: true }));
  const config = loadConfig({ PATH: process.env.PATH, REDIS_URL: privateRedis.redis.url, REDIS_PREFIX: prefix, JOB_LOG_DIR: logDir });
  const supervisor = new Supervisor({ store, config, scriptFor: () => "/nonexistent.js" });
  t.teardown(() => supervisor.close());

  const due = await Promise.all(Array.from({ length: 10 }, (_, i) => dueRemoteJob(store, i % 2 ? ENDS_ON_TERM : IGNORES_TERM)));
  const otherHost = await dueRemoteJob(store, ENDS_ON_TERM, { host: "some-other-host" });
  const reusedPid = await dueRemoteJob(store, ENDS_ON_TERM, { argvId: "0".repeat(32) });

  let most = 0;
  await waitFor(
    async () => {
      await supervisor.tick();
      most = Math.max(most, supervisor.remoteKillsInFlight);
      return due.every(({ group }) => !group.running()) && supervisor.remoteKillsInFlight === 0;
    },
    { timeout: 30_000, message: () => `the due jobs to be killed (in flight: ${supervisor.remoteKillsInFlight})` },
  );
  t.true(most > 0 && most <= due.length, `at most ${most} in flight`);
  for (const [i, { group }] of due.entries()) {
    t.is((await group.exited).signal, i % 2 ? "SIGTERM" : "SIGKILL");
    if (!(i % 2)) t.true(group.output().includes("TERM"), "SIGTERM came first");
  }
  t.true(otherHost.group.running(), "a job recorded on another host is left to that host");
  t.true(reusedPid.group.running(), "a pid that no longer runs the job is not signalled");

  // The jobs stay in the kills index until their leases expire; more sweeps
  // neither signal them again nor remember them.
  for (let i = 0; i < 5; i++) {
    await supervisor.tick();
    t.is(supervisor.remoteKillsInFlight, 0);
  }
  t.true((await store.dueKills()).length >= due.length);
  t.is(supervisor.size, 0, "no local process was started");
});

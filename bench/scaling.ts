// The Redis side of capacity (bench/README.md, "Scaling: what Redis pays"; docs/operations.md, "Scaling"): what one job, one status
// poll, one heartbeat and one idle instance cost Redis in commands, bytes
// and redis-server CPU, on a private redis-server, and what one Redis shard
// carries at 50% of a core from there.
//
// Commands are INFO commandstats calls, which count a Lua script's inner
// calls too; bytes are INFO stats total_net_input_bytes + output; CPU is the
// redis-server process's own (utime + stime from /proc). Each figure has an
// idle window of the same length subtracted (the instances' own sweeps).
//
// Run alone with `npm run bench:scaling [-- --quick]`; `npm run bench` runs it last.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { submit as submitForm } from "../test/support/http.ts";
import { cpuMsOf, killProcessesIn, processesIn } from "../test/support/procs.ts";
import { startRedis, type TestRedis } from "../test/support/redis.ts";
import { spawnServer, type ServerProcess } from "../test/support/server.ts";
import { waitFor } from "../test/support/wait.ts";
import { JobStore } from "../jobs/core/store.ts";
import { load } from "./lib.ts";

export interface RedisCost {
  commands: number;
  bytes: number;
  /** redis-server CPU, microseconds. */
  cpuUs: number;
}

export interface ScalingFigures {
  perJob: RedisCost;
  perPoll: RedisCost;
  perHeartbeat: RedisCost;
  /** One progress report of a running job (a value and its count): what a heartbeat cost when it was one. */
  perReport: RedisCost;
  /** One idle instance, per second, by partition count. */
  idleInstancePerSecond: Record<string, RedisCost>;
  /** At 50% of one core of one shard; idle instances with REDIS_PARTITIONS 1 and 16. */
  capacity: { openPages: number; jobsPerSecond: number; heartbeatsPerSecond: number; idleInstances: number; idleInstances16: number };
  notes: string[];
}

const log = (message: string) => process.stderr.write(`bench scaling: ${message}\n`);

interface Reading {
  calls: number;
  /** Calls by command. */
  byCommand: Map<string, number>;
  bytes: number;
  /** What this reading itself sent and received (its two INFO commands and replies, about 3 KB). */
  ownBytes: number;
  cpuMs: number;
}

async function reading(client: Redis, redisPid: number): Promise<Reading> {
  const [stats, net] = await Promise.all([client.info("commandstats"), client.info("stats")]);
  let calls = 0;
  const byCommand = new Map<string, number>();
  for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls += Number(match[2]);
    byCommand.set(match[1]!, Number(match[2]));
  }
  const input = Number(/total_net_input_bytes:(\d+)/.exec(net)?.[1] ?? 0);
  const output = Number(/total_net_output_bytes:(\d+)/.exec(net)?.[1] ?? 0);
  // Each command's request (about 30 B) and its reply's framing (about 10 B) beside the replies' text.
  const ownBytes = Buffer.byteLength(stats) + Buffer.byteLength(net) + 2 * 40;
  return { calls, byCommand, bytes: input + output, ownBytes, cpuMs: cpuMsOf(redisPid) };
}

/** What `work` cost Redis, minus what the same time cost while idle (idlePerMs), divided by n. */
async function measure(client: Redis, redisPid: number, n: number, idlePerMs: RedisCost, work: () => Promise<void>): Promise<RedisCost> {
  const before = await reading(client, redisPid);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  const after = await reading(client, redisPid);
  if (process.env.BENCH_VERBOSE) {
    const deltas = [...after.byCommand].map(([name, calls]) => [name, (calls - (before.byCommand.get(name) ?? 0)) / n] as const);
    log(
      `by command, per unit: ${deltas
        .filter(([, d]) => d > 0.05)
        .map(([name, d]) => `${name} ${d.toFixed(1)}`)
        .join(", ")}`,
    );
  }
  // The two INFO calls of a reading (and their replies) are not part of the work.
  const commands = after.calls - before.calls - 2 - idlePerMs.commands * ms;
  const bytes = after.bytes - before.bytes - before.ownBytes - idlePerMs.bytes * ms;
  const cpuUs = (after.cpuMs - before.cpuMs) * 1000 - idlePerMs.cpuUs * ms;
  return { commands: Math.max(0, commands) / n, bytes: Math.max(0, bytes) / n, cpuUs: Math.max(0, cpuUs) / n };
}

/** Redis' own cost over a window with only the app's background work (per ms). */
async function idle(client: Redis, redisPid: number, ms: number): Promise<RedisCost> {
  const zero = { commands: 0, bytes: 0, cpuUs: 0 };
  const cost = await measure(client, redisPid, ms, zero, () => new Promise((resolve) => setTimeout(resolve, ms)));
  return cost;
}

const perSecond = (c: RedisCost): RedisCost => ({ commands: c.commands * 1000, bytes: c.bytes * 1000, cpuUs: c.cpuUs * 1000 });

export async function scaling({ quick }: { quick: boolean }): Promise<ScalingFigures> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-scaling-"));
  let redis: TestRedis | null = null;
  let client: Redis;
  const apps: ServerProcess[] = [];
  const idleMs = quick ? 1000 : 5000;
  // An instance's start (its scripts loaded, its first beat, sample and claim) is not its idle traffic.
  const settleMs = quick ? 1000 : 3000;
  const jobs = quick ? 20 : 200;
  const pollSeconds = quick ? 1 : 5;
  const heartbeats = quick ? 200 : 5000;
  try {
    redis = await startRedis();
    client = redis.client;
    const redisPid = redis.pid!;
    const start = async (name: string, env: Record<string, string> = {}) => {
      const logDir = path.join(tmp, name);
      fs.mkdirSync(logDir, { recursive: true });
      const app = await spawnServer(
        // JOB_SLOTS: the count type's own concurrency applies, whatever the host's CPUs (the default cap).
        {
          REDIS_URL: redis!.url,
          REDIS_PREFIX: name,
          JOB_LOG_DIR: logDir,
          NODE_ENV: "production",
          COUNT_STEP_DELAY_MS: "0",
          JOB_SLOTS: "1024",
          // One load generator, one client address: no limit of waiting jobs per submitter.
          JOB_MAX_QUEUED_PER_SUBMITTER: "0",
          ...env,
        },
        { logFile: path.join(tmp, `${name}.log`) },
      );
      apps.push(app);
      return app;
    };

    // An idle instance, with one partition and with 16.
    const idleCost: Record<string, RedisCost> = {};
    for (const partitions of ["1", "16"]) {
      const app = await start(`idle-${partitions}`, { REDIS_PARTITIONS: partitions });
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      idleCost[partitions] = perSecond(await idle(client, redisPid, idleMs));
      await app.close();
      apps.pop();
    }
    log(`idle instance: ${JSON.stringify(idleCost)}`);

    const app = await start("work");
    const workLogs = path.join(tmp, "work");
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const background = await idle(client, redisPid, idleMs);
    const store = new JobStore(client, { prefix: "work", ttlSucceededS: 86_400, ttlFailedS: 604_800 });

    // One job: a count of 1..10 submitted as a JSON client does, run to its end.
    // Waiting asks /proc, not Redis: every job's process has been started (it
    // has a log file) and none runs any more (each records its end before it exits).
    const ids: string[] = [];
    const perJob = await measure(client, redisPid, jobs, background, async () => {
      for (let i = 0; i < jobs; i++) ids.push(await submitForm(app.url, { start: "1", end: "10", increment: "1" }, { json: true }));
      let quiet = 0;
      await waitFor(
        () => {
          const started = fs.readdirSync(workLogs).filter((f) => f.endsWith(".log")).length;
          quiet = started === jobs && processesIn(workLogs).length === 0 ? quiet + 1 : 0;
          return quiet >= 3;
        },
        { timeout: 120_000, interval: 50, message: `${jobs} jobs to end` },
      );
    });
    const states = await Promise.all(ids.map((id) => client.hget(store.jobKeys(id)[0], "state")));
    if (!states.every((s) => s === "succeeded")) throw new Error(`not every job succeeded: ${states.join(", ")}`);
    log(`per job: ${JSON.stringify(perJob)}`);

    // One status poll of a running job that does not change (20 of them, records written as a job would).
    const running: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = await store.createClaimed({ type: "count", params: { start: 1, end: 1000, increment: 1 }, total: 1000 }, "bench", 600_000);
      await store.start(id, process.pid, os.hostname(), 600_000);
      await store.report(id, 600_000, { done: 1, results: [1] });
      running.push(id);
    }
    const paths = running.map((id) => `/jobs/${id}/status?shown=running`);
    await load(app.url, paths, { connections: 20, seconds: 1 });
    let polls = 0;
    const perPollTotal = await measure(client, redisPid, 1, background, async () => {
      const result = await load(app.url, paths, { connections: 20, seconds: pollSeconds });
      polls = result.rps * pollSeconds;
      if (result.non2xx + result.errors > 0) throw new Error(`polls failed: ${result.non2xx} non-2xx, ${result.errors} errors`);
    });
    const perPoll = { commands: perPollTotal.commands / polls, bytes: perPollTotal.bytes / polls, cpuUs: perPollTotal.cpuUs / polls };
    log(`per poll (${Math.round(polls)} polls): ${JSON.stringify(perPoll)}`);

    // One heartbeat of a running job, as the kit sends it between reports (store.beat).
    const perHeartbeat = await measure(client, redisPid, heartbeats, background, async () => {
      for (let i = 0; i < heartbeats; i += 50) await Promise.all(running.slice(0, 20).map((id) => store.beat(id, 600_000, 1)));
    });
    const sent = Math.ceil(heartbeats / 50) * 20;
    Object.assign(perHeartbeat, {
      commands: (perHeartbeat.commands * heartbeats) / sent,
      bytes: (perHeartbeat.bytes * heartbeats) / sent,
      cpuUs: (perHeartbeat.cpuUs * heartbeats) / sent,
    });
    log(`per heartbeat: ${JSON.stringify(perHeartbeat)}`);

    // One progress report of a running job (a value), as the kit sends it: the heartbeat's reference.
    let reported = 0;
    const perReport = await measure(client, redisPid, heartbeats, background, async () => {
      for (let i = 0; i < heartbeats; i += 50) {
        reported += 20;
        await Promise.all(running.slice(0, 20).map((id) => store.report(id, 600_000, { done: 1 + i, results: [i], attempt: 1 })));
      }
    });
    Object.assign(perReport, {
      commands: (perReport.commands * heartbeats) / reported,
      bytes: (perReport.bytes * heartbeats) / reported,
      cpuUs: (perReport.cpuUs * heartbeats) / reported,
    });
    log(`per report: ${JSON.stringify(perReport)}`);

    const halfCoreUs = 500_000;
    const capacity = {
      openPages: Math.round((halfCoreUs / Math.max(perPoll.cpuUs, 0.01)) * 2),
      jobsPerSecond: Math.round(halfCoreUs / Math.max(perJob.cpuUs, 0.01)),
      heartbeatsPerSecond: Math.round(halfCoreUs / Math.max(perHeartbeat.cpuUs, 0.01)),
      // An idle instance's CPU is below /proc's 10 ms resolution over the
      // window: estimated from its commands at the heartbeat's CPU per command.
      idleInstances: Math.round(halfCoreUs / ((idleCost["1"]!.commands * perHeartbeat.cpuUs) / Math.max(perHeartbeat.commands, 1))),
      idleInstances16: Math.round(halfCoreUs / ((idleCost["16"]!.commands * perHeartbeat.cpuUs) / Math.max(perHeartbeat.commands, 1))),
    };
    return {
      perJob,
      perPoll,
      perHeartbeat,
      perReport,
      idleInstancePerSecond: idleCost,
      capacity,
      notes: [
        `${jobs} jobs, ${Math.round(polls)} polls over 20 running jobs, ${heartbeats} heartbeats; idle windows of ${idleMs} ms subtracted`,
        "open pages: each polls every 2 s; a running job also sends a heartbeat every JOB_HEARTBEAT_MS (1 s)",
      ],
    };
  } finally {
    killProcessesIn(tmp);
    for (const app of apps) await app.close().catch(() => {});
    await redis?.close().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await scaling({ quick: process.argv.includes("--quick") });
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}

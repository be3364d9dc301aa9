// An instance that dies between the two steps of starting a job: after its
// claim (the job is taken from the queue and leased to it) and before the
// job's process marks it running. The claim's start lease runs out and any
// other instance's sweep ends the job, so nothing stays claimed or queued.
import { spawnSync } from "node:child_process";
import test from "ava";
import { START_GRACE_MS } from "../../server/supervisor/index.ts";
import { JobStore } from "../../jobs/core/store.ts";
import { startApp, uniquePrefix } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const HEARTBEAT_MS = 100;
const PARTITIONS = 4;

/**
 * A real process that does what an instance does up to that point, with the
 * same lease (three heartbeats plus START_GRACE_MS): it creates a job and
 * claims it, then is killed with SIGKILL before it can start anything.
 */
function claimAndDie(prefix: string): string {
  const code = `
    import fs from "node:fs";
    import { connectRedis, waitUntilReady } from "./jobs/core/redis.ts";
    import { JobStore } from "./jobs/core/store.ts";
    const url = process.env.REDIS_URL;
    const redis = connectRedis(url, "supervisor");
    await waitUntilReady(redis, url, 10000);
    const store = new JobStore(redis, { prefix: process.env.REDIS_PREFIX, partitions: ${PARTITIONS}, ttlSucceededS: 60, ttlFailedS: 60 });
    const id = await store.create({ type: "count", params: { start: 1, end: 2, increment: 1 }, total: 2, queueMax: 10 });
    const claimed = await store.claim("doomed-instance", ${3 * HEARTBEAT_MS + START_GRACE_MS}, ["count"], ["count"]);
    fs.writeSync(1, JSON.stringify({ id, claimed: claimed?.id }));
    process.kill(process.pid, "SIGKILL");
  `;
  const child = spawnSync(process.execPath, ["--import=tsx", "--input-type=module", "-e", code], {
    env: { PATH: process.env.PATH, REDIS_URL: redis.url, REDIS_PREFIX: prefix },
    encoding: "utf8",
  });
  if (child.signal !== "SIGKILL") throw new Error(`the instance was to die by SIGKILL: ${child.status} ${child.stderr}`);
  const { id, claimed } = JSON.parse(child.stdout) as { id: string; claimed?: string };
  if (id !== claimed) throw new Error(`it claimed ${claimed}, not ${id}`);
  return id;
}

test("a job claimed by an instance killed before it started the job's process ends never-started, and nothing is stuck", async (t) => {
  const prefix = uniquePrefix("claim-crash");
  const id = claimAndDie(prefix);
  const store = new JobStore(redis.client, { prefix, partitions: PARTITIONS, ttlSucceededS: 60, ttlFailedS: 60 });
  const stuck = await store.read(id);
  t.is(stuck?.state, "queued", "claimed: out of the queue, not running");
  t.is(await store.queueLength(), 0);
  t.deepEqual(await store.leasedIds(), [id]);

  // Another instance of the deployment; its sweep finds the lease expired.
  const app = await startApp(t, {
    redis,
    name: "claim-crash",
    prefix,
    env: { REDIS_PARTITIONS: String(PARTITIONS), JOB_HEARTBEAT_MS: String(HEARTBEAT_MS) },
  });
  const ended = await app.waitForState(id, "failed", 3 * HEARTBEAT_MS + START_GRACE_MS + 15_000);
  t.is(ended.reason, "never-started");
  t.is(ended.pid, null, "no process ever ran it");
  t.deepEqual(await app.store.leasedIds(), []);
  t.is(await app.store.queueLength(), 0);

  // The deployment goes on: the next job runs.
  const next = await app.submit({ start: "1", end: "2", increment: "1" });
  await app.waitForState(next, "succeeded");
});

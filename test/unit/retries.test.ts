// Retries in the Lua scripts (jobs/core/lua/includes/requeue.lua), called
// through JobStore against a private redis-server: which ends send a job back
// to the queue, what its record keeps of the attempt that ended, the
// backoff, the fence between attempts, and the end once attempts run out.
// No job processes: the test plays the server and the job's process itself.
import test from "ava";
import type { Redis } from "ioredis";
import { useRedis } from "../support/redis.ts";
import { uniquePrefix } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";
import { JobStore, type JobRecord, type RetryPolicy, type SweepReply } from "../../jobs/core/store.ts";

/** A sweep's ids: the jobs it recorded lost, and those it sent back to the queue. */
const swept = (reply: SweepReply) => ({ lost: reply.lost, requeued: reply.requeued });

const fileRedis = { redis: useRedis(test) };

const LONG_LEASE = 60_000;
const SHORT_LEASE = 5;
const THREE: RetryPolicy = { maxAttempts: 3, retryOn: [], backoffMs: 0 };

function setup() {
  const client: Redis = fileRedis.redis.client;
  const prefix = uniquePrefix("retries");
  const store = new JobStore(client, { prefix, ttlSucceededS: 3600, ttlFailedS: 600 });
  const base = `${prefix}:{jobs}:`;
  const f = {
    store,
    client,
    queue: `${base}queue`,
    leases: `${base}leases`,
    ix: `${base}ix:`,
    create: (retry: RetryPolicy | undefined = THREE) =>
      store.create({ type: "count", params: { start: 1, end: 3, increment: 1 }, total: 3, queueMax: 100, retry }),
    async claim(leaseMs = LONG_LEASE) {
      const claim = await store.claim("instance-1", leaseMs, ["count"], ["count"]);
      if (!claim) throw new Error("nothing to claim");
      return claim;
    },
    /** Claims the job (it must be the next) and starts it with a lease of leaseMs. */
    async run(id: string, leaseMs = LONG_LEASE, pid = 4242) {
      const claim = await f.claim();
      if (claim.id !== id) throw new Error(`claimed ${claim.id}, not ${id}`);
      const started = await store.start(id, pid, "host-1", leaseMs);
      if (!started.ok) throw new Error(`job ${id} did not start: ${started.state}`);
      return claim.attempt;
    },
    /** Its lease runs out now: the leases index's score and its beat key (lua/includes/beat.lua). */
    async expireNow(id: string) {
      await client.zadd(f.leases, 0, id);
      await client.del(`${store.jobKeys(id)[0]}:beat`);
    },
    async leaseExpired(id: string) {
      await waitFor(
        async () => {
          const [s, us] = await client.time();
          return Number(s) * 1000 + Math.floor(Number(us) / 1000) > Number(await client.zscore(f.leases, id));
        },
        { message: `the lease of ${id} to expire` },
      );
    },
    read: async (id: string) => (await store.read(id, "all")) as JobRecord,
  };
  return f;
}

test("a running job whose lease expires goes back to the head of the queue for its next attempt, with the ended one listed", async (t) => {
  const f = setup();
  const id = await f.create();
  const behind = await f.create();
  t.is(await f.run(id), 1);
  await f.store.report(id, LONG_LEASE, { done: 1, results: [1], status: "counting" });
  await f.expireNow(id);
  t.deepEqual(swept(await f.store.sweep()), { lost: [], requeued: [id] });

  const job = await f.read(id);
  t.like(job, { state: "queued", attempt: 2, maxAttempts: 3, reason: null, pid: null, host: null, startedAt: null, done: 0, status: null });
  t.deepEqual(job.results, [], "the next attempt starts with no results");
  t.is(job.attempts.length, 1);
  t.like(job.attempts[0], { attempt: 1, reason: "lost", host: "host-1", pid: 4242 });
  t.truthy(job.attempts[0]!.startedAt);
  t.truthy(job.attempts[0]!.endedAt);
  t.deepEqual(await f.client.lrange(f.queue, 0, -1), [id, behind], "at the head of the queue, before the jobs submitted after it");
  t.is(await f.client.zscore(f.leases, id), null, "no lease");
  t.is(await f.client.zscore(`${f.ix}count:queued`, id), String(job.createdAt), "in the queued set of the index");
  t.is(await f.client.zscore(`${f.ix}count:running`, id), null);
  t.is(await f.client.ttl(f.store.jobKeys(id)[0]), -1, "nothing expires: the job has not ended");

  const next = await f.claim();
  t.like(next, { id, type: "count", attempt: 2 });
  t.like(await f.store.start(id, 5151, "host-2", LONG_LEASE), { ok: true });
  t.like(await f.store.finish(id, "succeeded", "job", {}, 2), { outcome: "own-end", state: "succeeded" });
  t.like(await f.read(id), { state: "succeeded", attempt: 2, host: "host-2" });
});

test("a job claimed whose process never started is retried too (never-started)", async (t) => {
  const f = setup();
  const id = await f.create();
  await f.claim(SHORT_LEASE);
  await f.leaseExpired(id);
  t.deepEqual(swept(await f.store.sweep()), { lost: [], requeued: [id] });
  const job = await f.read(id);
  t.like(job, { state: "queued", attempt: 2 });
  t.like(job.attempts[0], { attempt: 1, reason: "never-started", startedAt: null });
});

test("once its attempts are used up, a lost job ends failed (lost) with every attempt listed", async (t) => {
  const f = setup();
  const id = await f.create({ maxAttempts: 2, retryOn: [], backoffMs: 0 });
  await f.run(id, SHORT_LEASE);
  await f.leaseExpired(id);
  t.deepEqual(swept(await f.store.sweep()), { lost: [], requeued: [id] });
  await f.run(id, SHORT_LEASE, 5151);
  await f.leaseExpired(id);
  t.deepEqual(swept(await f.store.sweep()), { lost: [id], requeued: [] });
  const job = await f.read(id);
  t.like(job, { state: "failed", reason: "lost", attempt: 2, maxAttempts: 2, pid: 5151 });
  t.deepEqual(
    job.attempts.map((a) => [a.attempt, a.reason, a.pid]),
    [[1, "lost", 4242]],
    "the earlier attempt is listed; the last is the record itself",
  );
  t.true((await f.client.ttl(f.store.jobKeys(id)[0])) > 0, "the job has ended: its keys expire");
});

test("a job created without a retry policy (a record from before retries) is not retried", async (t) => {
  const f = setup();
  const id = await f.store.create({ type: "count", params: {}, total: 3, queueMax: 100 });
  await f.run(id, SHORT_LEASE);
  await f.leaseExpired(id);
  t.deepEqual(swept(await f.store.sweep()), { lost: [id], requeued: [] });
  t.like(await f.read(id), { state: "failed", reason: "lost", attempt: 1, maxAttempts: 1, attempts: [] });
});

test("a program's failure (exit code) ends the job unless its type lists the reason in retryOn", async (t) => {
  const f = setup();
  const plain = await f.create();
  await f.run(plain);
  t.like(await f.store.finish(plain, "failed", "exit", { reason: "exit-code", exitCode: 1 }, 1), { outcome: "ended", state: "failed" });
  t.like(await f.read(plain), { state: "failed", reason: "exit-code", attempt: 1 });

  const opted = await f.create({ maxAttempts: 3, retryOn: ["exit-code"], backoffMs: 0 });
  await f.run(opted);
  t.deepEqual(await f.store.finish(opted, "failed", "exit", { reason: "exit-code", exitCode: 1 }, 1), { outcome: "requeued" });
  const job = await f.read(opted);
  t.like(job, { state: "queued", attempt: 2, exitCode: null });
  t.like(job.attempts[0], { attempt: 1, reason: "exit-code", exitCode: 1 });
  t.like(
    await f.store.finish(opted, "failed", "job", { reason: "job-error", error: "bad row" }, 2),
    { outcome: "unchanged" },
    "the job's own error is refused: the job is not running",
  );
  await f.run(opted);
  t.like(
    await f.store.finish(opted, "failed", "job", { reason: "job-error", error: "bad row" }, 2),
    { outcome: "own-end", state: "failed" },
    "job-error is not listed",
  );
  t.like(await f.read(opted), { state: "failed", reason: "job-error", error: "bad row", attempt: 2 });
});

test("a cancelled job is never retried: a running one whose process is lost after the request, and a queued one", async (t) => {
  const f = setup();
  const id = await f.create({ maxAttempts: 3, retryOn: ["signal", "exit-code"], backoffMs: 0 });
  await f.run(id, SHORT_LEASE);
  t.deepEqual(await f.store.cancel(id, 60_000), { outcome: "requested" });
  await f.leaseExpired(id);
  t.deepEqual(swept(await f.store.sweep()), { lost: [id], requeued: [] });
  t.like(await f.read(id), { state: "cancelled", reason: "cancel-killed", attempts: [] });

  const other = await f.create({ maxAttempts: 3, retryOn: ["signal"], backoffMs: 0 });
  await f.run(other);
  await f.store.cancel(other, 60_000);
  t.like(await f.store.finish(other, "failed", "exit", { reason: "signal", signal: "SIGKILL" }, 1), {
    outcome: "ended",
    state: "cancelled",
  });
});

test("a job waiting for its next attempt is not claimed before its backoff, and a cancel ends it", async (t) => {
  const f = setup();
  const id = await f.create({ maxAttempts: 3, retryOn: [], backoffMs: 60_000 });
  await f.run(id, SHORT_LEASE);
  await f.leaseExpired(id);
  await f.store.sweep();
  const job = await f.read(id);
  t.true(job.notBefore! >= job.attempts[0]!.endedAt + 60_000, "not before the backoff");
  const other = await f.create();
  t.like(await f.claim(), { id: other }, "the waiting job is passed over; the next is taken");
  t.is(await f.store.claim("instance-1", LONG_LEASE, ["count"], ["count"]), null);

  t.like(await f.store.cancel(id, 1000), { outcome: "cancelled" });
  t.like(await f.read(id), { state: "cancelled", reason: "cancelled", attempt: 2 });
  t.deepEqual(await f.client.lrange(f.queue, 0, -1), []);
});

test("the backoff doubles with each attempt that ends", async (t) => {
  const f = setup();
  const id = await f.create({ maxAttempts: 3, retryOn: [], backoffMs: 1000 });
  await f.run(id, SHORT_LEASE);
  await f.expireNow(id);
  await f.store.sweep();
  const first = await f.read(id);
  t.is(first.notBefore! - first.attempts[0]!.endedAt, 1000);
  await f.client.hset(f.store.jobKeys(id)[0], "notBefore", 0);
  await f.run(id, SHORT_LEASE);
  await f.expireNow(id);
  await f.store.sweep();
  const second = await f.read(id);
  t.is(second.notBefore! - second.attempts[1]!.endedAt, 2000);
});

test("the process of an attempt that was retried can neither report on nor end the next attempt", async (t) => {
  const f = setup();
  const id = await f.create();
  await f.run(id, SHORT_LEASE);
  await f.expireNow(id);
  await f.store.sweep();
  await f.run(id, LONG_LEASE, 5151);
  t.is(await f.store.report(id, LONG_LEASE, { done: 3, results: [9], attempt: 1 }), "refused");
  t.like(await f.store.finish(id, "succeeded", "job", {}, 1), { outcome: "unchanged" });
  t.like(
    await f.store.finish(id, "failed", "exit", { reason: "exit-code", exitCode: 4 }, 1),
    { outcome: "unchanged" },
    "nor can its server record its exit",
  );
  t.like(await f.read(id), { state: "running", attempt: 2, pid: 5151, done: 0, results: [] });
  t.is(await f.store.report(id, LONG_LEASE, { done: 1, results: [1], attempt: 2 }), "ok");
});

test("a process started for an attempt that was retried meanwhile (slow to start) may not start the next one", async (t) => {
  const f = setup();
  const id = await f.create();
  await f.claim(SHORT_LEASE);
  await f.leaseExpired(id);
  await f.store.sweep();
  t.like(await f.claim(), { id, attempt: 2 });
  t.deepEqual(await f.store.start(id, 4242, "host-1", LONG_LEASE, 1), { ok: false, state: "queued" });
  t.like(await f.store.start(id, 5151, "host-2", LONG_LEASE, 2), { ok: true });
});

test("a read that finds the lease expired requeues the job and says so", async (t) => {
  const f = setup();
  const id = await f.create();
  await f.run(id, SHORT_LEASE);
  await f.expireNow(id);
  const retried: string[] = [];
  const lost: string[] = [];
  f.store.onRetried = (job) => retried.push(`${job.id}:${job.attempt}`);
  f.store.onEnded = (end) => lost.push(end.id);
  t.like(await f.store.read(id), { state: "queued", attempt: 2 });
  t.deepEqual(retried, [`${id}:2`]);
  t.deepEqual(lost, []);
});

test("a report from a process whose lease expired is refused, and the job is requeued", async (t) => {
  const f = setup();
  const id = await f.create();
  await f.run(id, SHORT_LEASE);
  await f.leaseExpired(id);
  t.is(await f.store.report(id, LONG_LEASE, { done: 1, attempt: 1 }), "refused");
  t.like(await f.read(id), { state: "queued", attempt: 2 });
});

test("the exit of an attempt its own process retried changes nothing and leaves the report of the next attempt's end to that attempt's exit", async (t) => {
  const f = setup();
  const id = await f.create({ maxAttempts: 2, retryOn: ["exit-code"], backoffMs: 0 });
  await f.run(id);
  t.deepEqual(await f.store.finish(id, "failed", "job", { reason: "exit-code", exitCode: 3 }, 1), { outcome: "requeued" });
  t.is(await f.run(id), 2);
  // The second attempt ends before the first one's exit is recorded (a busy server).
  t.like(await f.store.finish(id, "failed", "job", { reason: "exit-code", exitCode: 3 }, 2), { outcome: "own-end", state: "failed" });
  t.like(await f.store.finish(id, "failed", "exit", { exitCode: 3 }, 1), { outcome: "unchanged", state: "failed" }, "the first exit");
  t.like(await f.store.finish(id, "failed", "exit", { exitCode: 3 }, 2), { outcome: "reported", state: "failed" }, "the second exit");
  t.like(await f.read(id), { state: "failed", reason: "exit-code", attempt: 2, attempts: [{ attempt: 1, reason: "exit-code" }] });
});

// Each Lua script (jobs/core/lua), called through JobStore against a private
// redis-server: the transitions it allows, those it refuses, fencing, lease
// expiry, and what an ended job leaves behind. No job processes: the test
// plays the server and the job's process itself.
import test, { type ExecutionContext } from "ava";
import type { Redis } from "ioredis";
import { keysUnder, startRedis, useRedis } from "../support/redis.ts";
import { uniquePrefix } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";
import { commandName, LUA_COMMANDS, resolveIncludes } from "../../jobs/core/lua/index.ts";
import type { FinishMode } from "../../jobs/core/lua/commands.ts";
import {
  AlreadySubmittedError,
  JobStore,
  LOG_LINE_MAX_CHARS,
  LOG_MAX_LINES,
  newJobId,
  QueueFullError,
  SubmitKeyReusedError,
  type JobState,
  type SubmitOnce,
} from "../../jobs/core/store.ts";
import { partitionOf } from "../../jobs/core/partitions.ts";

const fileRedis = { redis: useRedis(test) };

const TTL = { succeeded: 3600, failed: 600 };
const LONG_LEASE = 60_000;
const SHORT_LEASE = 5;
const LOST_RUNNING = "lost";
const LOST_STARTING = "never-started";
const CANCEL_STOPPED = "cancel-killed";

interface Fixture {
  store: JobStore;
  client: Redis;
  prefix: string;
  queue: string;
  leases: string;
  kills: string;
  /** A new queued job (create). */
  queued(total?: number): Promise<string>;
  /** A new job claimed for this instance but not started (create, claim). */
  claimed(leaseMs?: number): Promise<string>;
  /** A new running job (create, claim, start). */
  running(leaseMs?: number): Promise<string>;
  /** Every key under the prefix: type, contents and expiry time. */
  dump(): Promise<Record<string, unknown>>;
  /** Waits until Redis' clock is past the job's lease. */
  leaseExpired(id: string): Promise<void>;
}

async function redisNow(client: Redis): Promise<number> {
  const [s, us] = await client.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

function setup(queueMax = 100): Fixture {
  const client = fileRedis.redis.client;
  const prefix = uniquePrefix("store");
  const store = new JobStore(client, { prefix, ttlSucceededS: TTL.succeeded, ttlFailedS: TTL.failed });
  const base = `${prefix}:{jobs}:`;
  const f: Fixture = {
    store,
    client,
    prefix,
    queue: `${base}queue`,
    leases: `${base}leases`,
    kills: `${base}kills`,
    queued: (total = 3) => store.create({ type: "count", params: { start: 1, end: total, increment: 1 }, total, queueMax }),
    async claimed(leaseMs = LONG_LEASE) {
      const id = await f.queued();
      const claim = await store.claim("instance-1", leaseMs, ["count"], ["count"]);
      if (claim?.id !== id) throw new Error(`claimed ${JSON.stringify(claim)}, not ${id}`);
      return id;
    },
    async running(leaseMs = LONG_LEASE) {
      const id = await f.claimed();
      const started = await store.start(id, 4242, "host-1", leaseMs);
      if (!started.ok) throw new Error(`job ${id} did not start: ${started.state}`);
      return id;
    },
    async dump() {
      const out: Record<string, unknown> = {};
      for (const key of (await keysUnder(client, prefix)).sort()) {
        const type = await client.type(key);
        const value =
          type === "hash"
            ? await client.hgetall(key)
            : type === "list"
              ? await client.lrange(key, 0, -1)
              : type === "zset"
                ? await client.zrange(key, "0", "-1", "WITHSCORES")
                : type;
        out[key] = { value, expiresAt: await client.call("EXPIRETIME", key) };
      }
      return out;
    },
    async leaseExpired(id) {
      await waitFor(async () => (await redisNow(client)) > Number(await client.zscore(f.leases, id)), {
        message: `the lease of ${id} to expire`,
      });
    },
  };
  return f;
}

/** The job has ended: out of every index, each of its keys that exists with the TTL of its state. */
async function assertEnded(t: ExecutionContext, f: Fixture, id: string, state: JobState): Promise<void> {
  const ttl = state === "succeeded" ? TTL.succeeded : TTL.failed;
  for (const key of f.store.jobKeys(id)) {
    if (!(await f.client.exists(key))) continue;
    const left = await f.client.ttl(key);
    t.true(left > ttl - 60 && left <= ttl, `${key} expires in ${left} s, expected ${ttl}`);
  }
  t.is(await f.client.lpos(f.queue, id), null, "not in the queue");
  t.is(await f.client.zscore(f.leases, id), null, "no lease");
  t.is(await f.client.zscore(f.kills, id), null, "no kill deadline");
}

// --- The loader --------------------------------------------------------------

test("every script file becomes a command named after it, with the number of keys its name states", (t) => {
  const commands = Object.fromEntries(LUA_COMMANDS.map((c) => [c.name, c.numberOfKeys]));
  t.deepEqual(commands, {
    sjCreate: 5,
    sjCreateClaimed: 4,
    sjClaim: 5,
    sjTakeReport: 2,
    sjUploadAppend: 1,
    sjEndUnknown: 6,
    sjRelease: 3,
    sjStart: 3,
    sjSubmitted: 1,
    sjReport: 1,
    sjFinish: 6,
    sjCancel: 6,
    sjLoginReserve: 2,
    sjRead: 9,
    sjSweep: 5,
    sjDueKills: 1,
    sjLog: 2,
    sjLogAll: 2,
    sjLogNoted: 1,
    sjNotifyAsk: 1,
    sjNotifyOutcome: 2,
    sjNotifyTake: 2,
    sjFile: 2,
    sjFileRange: 1,
    sjDelete: 2,
    sjRetried: 1,
    sjSlurm: 2,
    sjSlurmPlaces: 1,
    sjBeat: 2,
    sjSample: 2,
    sjTrim: 2,
  });
  t.is(commandName("due-kills"), "sjDueKills");
  for (const { name, lua } of LUA_COMMANDS) {
    t.notRegex(lua, /@include/, `${name} has every include resolved`);
    t.notRegex(lua, /^\s*(--.*)?$/m, `${name} is sent without comment or blank lines`);
  }
});

test("an include is resolved relative to its file, goes into a script once, and a cycle is refused", (t) => {
  const files = {
    "a-1.lua": '--- @include "inc/x"\n--- @include "inc/y.lua"\nreturn 1\n',
    "inc/x.lua": '--- @include "y"\nlocal x = 1\n',
    "inc/y.lua": "local y = 2\n",
  };
  t.is(resolveIncludes("a-1.lua", files), "local y = 2\nlocal x = 1\n\nreturn 1\n");
  t.throws(() => resolveIncludes("a-1.lua", { ...files, "inc/y.lua": '--- @include "x"\n' }), {
    message: /include cycle a-1\.lua -> inc\/x\.lua -> inc\/y\.lua -> inc\/x\.lua/,
  });
  t.throws(() => resolveIncludes("a-1.lua", { "a-1.lua": '--- @include "missing"\n' }), { message: /no file missing\.lua to include/ });
});

// --- Allowed transitions ---------------------------------------------------------

test("a job id drawn in a partition lies in it, for any count of partitions", (t) => {
  for (const count of [1, 2, 3, 16, 1000, 1024]) {
    for (const index of [0, 1, count - 1].filter((i) => i >= 0 && i < count)) {
      for (let i = 0; i < 50; i++) t.is(partitionOf(newJobId({ index, count }), count), index, `partition ${index} of ${count}`);
    }
  }
});

test("create under a key: the same request answers the first job, another request under a client's key is refused, a form's token takes one job per request", async (t) => {
  const { store, client, prefix } = setup();
  const job = { type: "count", params: { start: 1, end: 3, increment: 1 }, total: 3, queueMax: 100 };
  const once = (scope: SubmitOnce["scope"], key: string, fingerprint: string): SubmitOnce => ({ scope, key, fingerprint, ttlS: 120 });
  const first = await store.create({ ...job, once: once("key", "k".repeat(16), "a") });
  const again = await t.throwsAsync(store.create({ ...job, once: once("key", "k".repeat(16), "a") }), {
    instanceOf: AlreadySubmittedError,
  });
  t.is(again.id, first);
  await t.throwsAsync(store.create({ ...job, once: once("key", "k".repeat(16), "b") }), { instanceOf: SubmitKeyReusedError });
  // The same key under the other scope, or for another type, is another key.
  const formFirst = await store.create({ ...job, once: once("form", "k".repeat(16), "a") });
  const formOther = await store.create({ ...job, once: once("form", "k".repeat(16), "b") });
  t.is(
    (await t.throwsAsync(store.create({ ...job, once: once("form", "k".repeat(16), "a") }), { instanceOf: AlreadySubmittedError })).id,
    formFirst,
  );
  await store.create({ ...job, type: "primes", once: once("key", "k".repeat(16), "b") });
  t.is(new Set([first, formFirst, formOther]).size, 3);
  t.is(await store.queueLength(), 4);
  // Each record is kept for its TTL at most.
  const records = (await keysUnder(client, prefix)).filter((k) => k.includes(":once:"));
  t.is(records.length, 3);
  for (const key of records) t.true((await client.ttl(key)) <= 120);
  // A full queue still answers a repeat with its job; the same key on a created-claimed job too.
  const full = setup(1);
  const queued = await full.store.create({ ...job, queueMax: 1, once: once("key", "q".repeat(16), "a") });
  t.is(
    (
      await t.throwsAsync(full.store.create({ ...job, queueMax: 1, once: once("key", "q".repeat(16), "a") }), {
        instanceOf: AlreadySubmittedError,
      })
    ).id,
    queued,
  );
  await t.throwsAsync(full.store.create({ ...job, queueMax: 1, once: once("key", "r".repeat(16), "a") }), { instanceOf: QueueFullError });
  const claimed = await store.createClaimed({ ...job, once: once("key", "c".repeat(16), "a") }, "me", LONG_LEASE);
  t.is(
    (
      await t.throwsAsync(store.createClaimed({ ...job, once: once("key", "c".repeat(16), "a") }, "me", LONG_LEASE), {
        instanceOf: AlreadySubmittedError,
      })
    ).id,
    claimed,
  );
});

test("a key whose job is gone is free again: the same request creates a new job", async (t) => {
  const { store } = setup();
  const job = { type: "count", params: { start: 1, end: 3, increment: 1 }, total: 3, queueMax: 100 };
  const once: SubmitOnce = { scope: "key", key: "gone-key-00000000", fingerprint: "a", ttlS: 120 };
  const first = await store.create({ ...job, once });
  await store.cancel(first, 1000);
  t.like(await store.delete(first), { deleted: true });
  const second = await store.create({ ...job, once });
  t.not(second, first);
  // And another request under the key is no longer refused once that job is gone too.
  await store.cancel(second, 1000);
  await store.delete(second);
  t.truthy(await store.create({ ...job, once: { ...once, fingerprint: "b" } }));
});

test("a job goes from created to claimed, started, reported and succeeded, then leaves every index and expires", async (t) => {
  const f = setup();
  const id = await f.queued(3);
  const queued = await f.store.read(id);
  t.like(queued, {
    id,
    type: "count",
    state: "queued",
    done: 0,
    total: 3,
    params: { start: 1, end: 3, increment: 1 },
    results: [],
    queuePosition: 0,
    startedAt: null,
  });
  t.is(queued?.createdAt, queued?.updatedAt);
  t.deepEqual(await f.client.lrange(f.queue, 0, -1), [id]);

  t.like(await f.store.claim("instance-1", LONG_LEASE, ["count"], ["count"]), { id, type: "count" });
  t.is(await f.store.queueLength(), 0);
  t.is(await f.client.hget(f.store.jobKeys(id)[0], "owner"), "instance-1");
  const claimLease = Number(await f.client.zscore(f.leases, id));
  t.true(claimLease > (await redisNow(f.client)) + LONG_LEASE - 5000, "the claim holds a start lease");
  t.like(await f.store.read(id), { state: "queued", queuePosition: null });

  t.like(await f.store.start(id, 4242, "host-1", 30_000), { ok: true });
  const running = await f.store.read(id);
  t.like(running, { state: "running", pid: 4242, host: "host-1" });
  t.truthy(running?.startedAt);
  t.true(Number(await f.client.zscore(f.leases, id)) < claimLease, "the lease now counts from the start");

  t.is(await f.store.report(id, LONG_LEASE, { done: 1, results: [1] }), "ok");
  t.is(await f.store.report(id, LONG_LEASE, { done: 2, results: [2] }), "ok");
  t.is(await f.store.report(id, LONG_LEASE), "ok", "a heartbeat");
  t.like(await f.store.read(id, "all"), { state: "running", done: 2, results: [1, 2] });
  t.true((await f.client.pttl(`${f.store.jobKeys(id)[0]}:beat`)) > LONG_LEASE - 5000, "each report renews the lease (its beat key)");
  t.is(await f.store.report(id, LONG_LEASE, { done: 3, results: [3] }), "ok");

  t.like(await f.store.finish(id, "succeeded", "job"), { outcome: "own-end", state: "succeeded" });
  const done = await f.store.read(id, "auto");
  t.like(done, { state: "succeeded", done: 3, results: [1, 2, 3], error: null, queuePosition: null });
  t.truthy(done?.finishedAt);
  await assertEnded(t, f, id, "succeeded");
  t.is(await f.client.ttl(f.store.jobKeys(id)[1]), await f.client.ttl(f.store.jobKeys(id)[0]), "both keys expire together");
});

test("read returns every result, or with 'auto' only the last one while the job runs, and each waiting job's place in the queue", async (t) => {
  const f = setup();
  const first = await f.queued();
  const second = await f.queued();
  const third = await f.queued();
  t.deepEqual(await Promise.all([first, second, third].map(async (id) => (await f.store.read(id))?.queuePosition)), [0, 1, 2]);
  await f.store.claim("instance-1", LONG_LEASE, ["count"], ["count"]);
  await f.store.start(first, 1, "h", LONG_LEASE);
  t.deepEqual(await Promise.all([first, second, third].map(async (id) => (await f.store.read(id))?.queuePosition)), [null, 0, 1]);
  await f.store.report(first, LONG_LEASE, { done: 2, results: [10, 20] });
  t.deepEqual((await f.store.read(first, "auto"))?.results, [20]);
  t.deepEqual((await f.store.read(first, "all"))?.results, [10, 20]);
  await f.store.finish(first, "failed", "job", { error: "boom" });
  t.deepEqual((await f.store.read(first, "auto"))?.results, [10, 20], "all of them once it has ended");
  t.is(await f.store.read(newJobId()), null, "a job that does not exist");
});

test("cancelling a queued job ends it cancelled at once and takes it out of the queue", async (t) => {
  const f = setup();
  const id = await f.queued();
  const other = await f.queued();
  t.deepEqual(await f.store.cancel(id, 5000), { outcome: "cancelled" });
  t.like(await f.store.read(id), { state: "cancelled", reason: "cancelled", error: null, cancelRequestedAt: null });
  await assertEnded(t, f, id, "cancelled");
  t.deepEqual(await f.client.lrange(f.queue, 0, -1), [other]);
  t.like(await f.store.claim("instance-1", LONG_LEASE, ["count"], ["count"]), { id: other, type: "count" });
});

test("cancelling a running job stores the request once, sets a kill deadline, and its next report answers 'cancel'", async (t) => {
  const f = setup();
  const id = await f.running();
  t.deepEqual(await f.store.cancel(id, 5000), { outcome: "requested" });
  const requested = await f.store.read(id);
  t.like(requested, { state: "running" });
  t.truthy(requested?.cancelRequestedAt);
  const deadline = Number(await f.client.zscore(f.kills, id));
  t.is(deadline, requested!.cancelRequestedAt! + 5000);

  t.deepEqual(await f.store.cancel(id, 60_000), { outcome: "requested" }, "asking again");
  t.is((await f.store.read(id))?.cancelRequestedAt, requested?.cancelRequestedAt, "the first request stands");
  t.is(Number(await f.client.zscore(f.kills, id)), deadline, "and so does its deadline");

  t.is(await f.store.report(id, LONG_LEASE, { done: 1, results: [1] }), "cancel");
  t.is(await f.store.report(id, LONG_LEASE), "cancel", "a heartbeat hears it too");
  t.like(await f.store.finish(id, "cancelled", "job", { error: "Cancelled while running." }), { state: "cancelled" });
  t.like(await f.store.read(id), { state: "cancelled", error: "Cancelled while running.", done: 1, results: [1] });
  await assertEnded(t, f, id, "cancelled");
});

/** A job started (its lease 2 s) on a Redis of its own: INFO commandstats counts every client's commands. */
async function runningAlone(t: ExecutionContext, prefix: string) {
  const own = await startRedis();
  t.teardown(() => own.close());
  const store = new JobStore(own.client, { prefix, ttlSucceededS: 60, ttlFailedS: 60 });
  const id = await store.create({ type: "count", params: {}, total: 3, queueMax: 10 });
  await store.claim("i", LONG_LEASE, ["count"], ["count"]);
  t.like(await store.start(id, 4242, "host-1", 2000), { ok: true });
  return { own, store, id, beatKey: `${store.jobKeys(id)[0]}:beat` };
}

test("a heartbeat renews a running job's lease with one command and no script, and hears a cancel", async (t) => {
  const { own, store, id, beatKey } = await runningAlone(t, "beat");
  const before = await commandsRun(own.client);
  t.is(await store.beat(id, LONG_LEASE, 1), "ok");
  t.is((await commandsRun(own.client)) - before, 1, "one command: GETEX of the beat key");
  t.true((await own.client.pttl(beatKey)) > LONG_LEASE - 5000, "the lease runs from the beat");

  t.deepEqual(await store.cancel(id, 5000), { outcome: "requested" });
  t.is(await store.beat(id, LONG_LEASE, 1), "cancel", "the beat hears the cancel");
  t.is(await store.beat(id, LONG_LEASE, 2), "refused", "another attempt's beat is a whole report, refused");
  t.like(await store.finish(id, "cancelled", "job", {}, 1), { state: "cancelled" });
  t.is(await own.client.exists(beatKey), 0, "the end deletes the beat key");
  t.is(await store.beat(id, LONG_LEASE, 1), "refused", "a beat after the end is a whole report, refused");
});

test("a report whose lease was renewed less than half a beat ago neither renews nor checks it, and is still fenced by state and attempt", async (t) => {
  const { own, store, id, beatKey } = await runningAlone(t, "fresh");
  const before = await commandCounts(own.client);
  t.is(await store.report(id, LONG_LEASE, { done: 1, results: [1], first: 0, attempt: 1, leaseFresh: true }), "ok");
  const after = await commandCounts(own.client);
  t.is(after.set ?? 0, before.set ?? 0, "the beat key is not written");
  t.is(after.pttl ?? 0, before.pttl ?? 0, "nor checked");
  t.true((await own.client.pttl(beatKey)) <= 2000, "the lease is the start's");
  t.like(await store.read(id, "all"), { done: 1, results: [1] });
  t.is(await store.report(id, LONG_LEASE, { done: 2, attempt: 2, leaseFresh: true }), "refused", "another attempt's report is refused");
  t.like(await store.reportEnd(id, LONG_LEASE, { done: 3, results: [2, 3], first: 1, attempt: 1, leaseFresh: true }, "succeeded"), {
    outcome: "own-end",
    state: "succeeded",
  });
  t.is(await store.report(id, LONG_LEASE, { done: 3, attempt: 1, leaseFresh: true }), "refused", "a report after the end is refused");
  t.like(await store.read(id, "all"), { state: "succeeded", done: 3, results: [1, 2, 3] });
});

test("a lease kept by beats alone does not run out: the sweep moves the index up to the beat key, and records the job lost once the beats stop", async (t) => {
  const f = setup();
  const id = await f.claimed();
  const started = await f.store.start(id, 4242, "host-1", 300);
  t.true(started.ok);
  const score = Number(await f.client.zscore(f.leases, id));
  // Beats past the index's score: the lease is the beat key's.
  await waitFor(
    async () => {
      t.is(await f.store.beat(id, 300, 1), "ok");
      return (await redisNow(f.client)) > score + 300;
    },
    { interval: 50, message: "beats past the start's lease" },
  );
  t.like(await f.store.read(id), { state: "running" }, "a read finds it running");
  t.deepEqual((await f.store.sweep()).lost, [], "the sweep finds it running");
  t.true(Number(await f.client.zscore(f.leases, id)) > score + 300, "and moves its index entry up to the beat key's expiry");
  await f.leaseExpired(id);
  await waitFor(async () => (await f.client.exists(`${f.store.jobKeys(id)[0]}:beat`)) === 0, { message: "the beat key to run out" });
  t.deepEqual((await f.store.sweep()).lost, [id], "no more beats: lost");
  t.like(await f.store.read(id), { state: "failed", reason: "lost" });
});

interface FinishCase {
  title: string;
  from: "claimed" | "running";
  cancelRequested: boolean;
  state: JobState;
  mode: FinishMode;
  recorded: JobState;
  /** The reason recorded: the caller's, or cancel-killed when a pending cancel turns a failure into a cancel. */
  reason: string;
  error: string | null;
}

const finishes: FinishCase[] = [
  {
    title: "the job's process records its own failure",
    from: "running",
    cancelRequested: false,
    state: "failed",
    mode: "job",
    recorded: "failed",
    reason: "exit-code",
    error: "boom",
  },
  {
    title: "the job's own failure stands after a cancel request",
    from: "running",
    cancelRequested: true,
    state: "failed",
    mode: "job",
    recorded: "failed",
    reason: "exit-code",
    error: "boom",
  },
  {
    title: "a process that exited is recorded failed with its exit",
    from: "running",
    cancelRequested: false,
    state: "failed",
    mode: "exit",
    recorded: "failed",
    reason: "exit-code",
    error: "boom",
  },
  {
    title: "a process that exited after a cancel request is recorded cancelled, not failed",
    from: "running",
    cancelRequested: true,
    state: "failed",
    mode: "exit",
    recorded: "cancelled",
    reason: CANCEL_STOPPED,
    error: null,
  },
  {
    title: "a process that exited before it started is recorded failed",
    from: "claimed",
    cancelRequested: false,
    state: "failed",
    mode: "exit",
    recorded: "failed",
    reason: "exit-code",
    error: "boom",
  },
  {
    title: "the server's decision (force) ends a running job, a cancel request notwithstanding",
    from: "running",
    cancelRequested: true,
    state: "failed",
    mode: "force",
    recorded: "failed",
    reason: "exit-code",
    error: "boom",
  },
  {
    title: "the server's decision (force) ends a job that has not started",
    from: "claimed",
    cancelRequested: false,
    state: "failed",
    mode: "force",
    recorded: "failed",
    reason: "exit-code",
    error: "boom",
  },
];

const finishMacro = test.macro({
  async exec(t, c: FinishCase) {
    const f = setup();
    const id = c.from === "running" ? await f.running() : await f.claimed();
    if (c.from === "running") await f.store.report(id, LONG_LEASE, { done: 1, results: [1] });
    if (c.cancelRequested) t.deepEqual(await f.store.cancel(id, 60_000), { outcome: "requested" });
    t.like(
      await f.store.finish(id, c.state, c.mode, {
        reason: "exit-code",
        error: "boom",
        exitCode: 1,
        signal: "SIGTERM",
        detail: "last lines",
      }),
      { outcome: c.mode === "job" ? "own-end" : "ended", state: c.recorded },
    );
    t.like(await f.store.read(id), {
      state: c.recorded,
      reason: c.reason,
      error: c.error,
      exitCode: 1,
      signal: "SIGTERM",
      detail: "last lines",
    });
    await assertEnded(t, f, id, c.recorded);
  },
  title: (_, c: FinishCase) => `finish: ${c.title}`,
});

for (const c of finishes) test(finishMacro, c);

// --- Refused transitions ---------------------------------------------------------

test("starting a job that is not queued is refused with its state, and changes nothing", async (t) => {
  const f = setup();
  const running = await f.running();
  const ended = await f.running();
  await f.store.finish(ended, "succeeded", "job");
  const before = await f.dump();
  t.deepEqual(await f.store.start(running, 99, "other", LONG_LEASE), { ok: false, state: "running" });
  t.deepEqual(await f.store.start(ended, 99, "other", LONG_LEASE), { ok: false, state: "succeeded" });
  t.deepEqual(await f.store.start(newJobId(), 99, "other", LONG_LEASE), { ok: false, state: "" });
  t.deepEqual(await f.dump(), before);
});

test("a report or a finish from a job's process is refused while the job is not running, and changes nothing", async (t) => {
  const f = setup();
  const claimed = await f.claimed();
  const before = await f.dump();
  t.is(await f.store.report(claimed, LONG_LEASE, { done: 1, results: [1] }), "refused");
  t.is(await f.store.report(claimed, LONG_LEASE), "refused");
  t.like(await f.store.finish(claimed, "succeeded", "job"), { outcome: "unchanged" });
  t.is(await f.store.report(newJobId(), LONG_LEASE, { done: 1, results: [1] }), "refused", "a job that does not exist");
  t.like(await f.store.finish(newJobId(), "succeeded", "job"), { outcome: "unchanged" });
  t.deepEqual(await f.dump(), before);
});

interface EndedCase {
  state: JobState;
  ended: string;
  end: (f: Fixture, id: string) => Promise<unknown>;
}

const endedStates: EndedCase[] = [
  { state: "succeeded", ended: "succeeded", end: (f, id) => f.store.finish(id, "succeeded", "job") },
  { state: "failed", ended: "failed", end: (f, id) => f.store.finish(id, "failed", "exit", { error: "boom" }) },
  { state: "cancelled", ended: "been cancelled", end: (f, id) => f.store.cancel(id, 0).then(() => f.store.finish(id, "cancelled", "job")) },
];

const endedMacro = test.macro({
  async exec(t, { state, end }: EndedCase) {
    const f = setup();
    const id = await f.running();
    await f.store.report(id, LONG_LEASE, { done: 1, results: [1] });
    await end(f, id);
    // Its server sees the process exit, and takes the report of an end the process recorded.
    await f.store.finish(id, "failed", "exit");
    t.like(await f.store.takeReport(id, "server-1"), { taken: true });
    t.is((await f.store.read(id))?.state, state);
    const before = await f.dump();

    t.deepEqual(await f.store.start(id, 99, "other", LONG_LEASE), { ok: false, state });
    t.is(await f.store.report(id, LONG_LEASE, { done: 2, results: [2] }), "refused");
    t.is(await f.store.report(id, LONG_LEASE), "refused");
    for (const mode of ["job", "exit", "force"] as const) {
      t.like(
        await f.store.finish(id, state === "succeeded" ? "failed" : "succeeded", mode, { error: "late" }),
        { outcome: "unchanged" },
        `finish (${mode})`,
      );
    }
    t.deepEqual(await f.store.cancel(id, 0), { outcome: "finished", state });
    t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [], requeued: [], kills: [] });
    t.like(await f.store.takeReport(id, "server-1"), { taken: true }, "its taker is told so again");
    t.like(await f.store.read(id), { state, results: [1] });
    t.deepEqual(await f.dump(), before);
  },
  title: (_, { ended }: EndedCase) => `nothing changes a job that has ${ended}: start, report, finish, cancel, sweep and read are no-ops`,
});

for (const c of endedStates) test(endedMacro, c);

test("claim skips the ids in the queue whose job is no longer queued, and answers null when nothing waits", async (t) => {
  const f = setup();
  const gone = await f.queued();
  const taken = await f.queued();
  const waiting = await f.queued();
  await f.client.del(f.store.jobKeys(gone)[0]);
  await f.client.hset(f.store.jobKeys(taken)[0], "state", "running");
  t.like(await f.store.claim("instance-1", LONG_LEASE, ["count"], ["count"]), { id: waiting, type: "count" });
  t.deepEqual(await f.store.leasedIds(), [waiting], "only the claimed job holds a lease");
  t.is(await f.store.queueLength(), 0, "the stale ids were dropped");
  t.is(await f.store.claim("instance-1", LONG_LEASE, ["count"], ["count"]), null);
});

test("creating a job is refused once the queue is full, and nothing of it is written", async (t) => {
  const f = setup(2);
  await f.queued();
  await f.queued();
  const before = await f.dump();
  await t.throwsAsync(f.queued(), { instanceOf: QueueFullError });
  t.deepEqual(await f.dump(), before);
  await f.store.claim("instance-1", LONG_LEASE, ["count"], ["count"]);
  await t.notThrowsAsync(f.queued(), "a claim makes room");
});

test("cancelling a job that does not exist says so", async (t) => {
  const f = setup();
  t.deepEqual(await f.store.cancel(newJobId(), 0), { outcome: "missing" });
  t.deepEqual(await keysUnder(f.client, f.prefix), []);
});

// --- Fencing and lease expiry --------------------------------------------------------

interface FencedCase {
  name: string;
  act: (f: Fixture, id: string) => Promise<unknown>;
  refused: unknown;
}

const fencedActions: FencedCase[] = [
  { name: "a progress report", act: (f, id) => f.store.report(id, LONG_LEASE, { done: 2, results: [2] }), refused: "refused" },
  { name: "a heartbeat", act: (f, id) => f.store.report(id, LONG_LEASE), refused: "refused" },
  { name: "a finish", act: (f, id) => f.store.finish(id, "succeeded", "job").then((reply) => reply.outcome), refused: "unchanged" },
];

const fencedMacro = test.macro({
  async exec(t, { act, refused }: FencedCase) {
    const f = setup();
    const id = await f.running(SHORT_LEASE);
    await f.leaseExpired(id);
    t.is(await act(f, id), refused);
    t.like(await f.store.read(id), { state: "failed", reason: LOST_RUNNING, error: null, done: 0, results: [] });
    await assertEnded(t, f, id, "failed");
  },
  title: (_, { name }: FencedCase) => `${name} from a process whose lease has expired is refused, and the job is recorded lost`,
});

for (const c of fencedActions) test(fencedMacro, c);

interface ExpiryCase {
  /** When the lease expired. */
  from: "before it started" | "while it ran" | "while it ran, after a cancel request";
  /** Who finds it: a read, the sweep, or the server recording its process's exit. */
  by: "read" | "sweep" | "exit";
  state: JobState;
  reason: string;
}

const expiries: ExpiryCase[] = [];
for (const by of ["read", "sweep", "exit"] as const) {
  expiries.push(
    { from: "before it started", by, state: "failed", reason: LOST_STARTING },
    { from: "while it ran", by, state: "failed", reason: LOST_RUNNING },
    { from: "while it ran, after a cancel request", by, state: "cancelled", reason: CANCEL_STOPPED },
  );
}

const expiryMacro = test.macro({
  async exec(t, c: ExpiryCase) {
    const f = setup();
    const id = c.from === "before it started" ? await f.claimed(SHORT_LEASE) : await f.running(SHORT_LEASE);
    if (c.from === "while it ran, after a cancel request") await f.store.cancel(id, 60_000);
    const alive = await f.running();
    await f.leaseExpired(id);
    if (c.by === "sweep") t.deepEqual((await f.store.sweep()).lost, [id]);
    // The exit seen after the lease ran out ends the job as the sweep would have: whichever looks first.
    if (c.by === "exit") t.like(await f.store.finish(id, "failed", "exit", { exitCode: 4 }), { outcome: "ended", state: c.state });
    t.like(await f.store.read(id), { state: c.state, reason: c.reason, error: null });
    await assertEnded(t, f, id, c.state);
    t.like(await f.store.read(alive), { state: "running" }, "a job whose lease is valid is left alone");
    t.deepEqual(await f.store.sweep(), { lost: [], waiting: [], requeued: [], kills: [] }, "recorded once");
    t.like(await f.store.takeReport(id, "server-1"), { taken: true, submitCounted: false }, "its claim counted its submit");
    t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [], requeued: [], kills: [] }, "reported once");
  },
  title: (_, c: ExpiryCase) => `${c.by} records a job whose lease expired ${c.from} as ${c.state} (${c.reason})`,
});

for (const c of expiries) test(expiryMacro, c);

test("sweep records at most its limit of lost jobs per call", async (t) => {
  const f = setup();
  const first = await f.running(SHORT_LEASE);
  const second = await f.running(SHORT_LEASE);
  await f.leaseExpired(first);
  await f.leaseExpired(second);
  const lost = [...(await f.store.sweep(1)).lost, ...(await f.store.sweep(1)).lost];
  t.deepEqual(lost.sort(), [first, second].sort());
  t.like(await f.store.sweep(), { lost: [], requeued: [] });
  t.deepEqual(await f.store.leasedIds(), []);
});

test("sweep drops a lease left behind by a job that has ended, without calling the job lost", async (t) => {
  const f = setup();
  const ended = await f.running();
  await f.store.finish(ended, "succeeded", "job");
  await f.client.zadd(f.leases, 1, ended);
  const before = await f.client.hgetall(f.store.jobKeys(ended)[0]);
  t.like(await f.store.sweep(), { lost: [], requeued: [] });
  t.deepEqual(await f.store.leasedIds(), []);
  t.deepEqual(await f.client.hgetall(f.store.jobKeys(ended)[0]), before);
});

// --- Each end reported once ------------------------------------------------------

test("an end a job's process records is reported once: by its server when it sees the exit, else after a sweep lists it", async (t) => {
  const f = setup();
  const seen = await f.running();
  t.like(await f.store.finish(seen, "succeeded", "job"), { outcome: "own-end", state: "succeeded" });
  t.deepEqual(
    await f.store.sweep(100, 60_000),
    { lost: [], waiting: [], requeued: [], kills: [] },
    "its server has its time to see the exit",
  );
  t.deepEqual(await f.store.finish(seen, "failed", "exit", { exitCode: 0 }), { outcome: "reported", state: "succeeded" });
  t.like(await f.store.takeReport(seen, "server-1"), { taken: true, submitCounted: false }, "its claim counted its submit");
  t.like(await f.store.finish(seen, "failed", "exit", { exitCode: 0 }), { outcome: "unchanged" }, "taken once");
  t.like(await f.store.read(seen), { state: "succeeded", exitCode: null }, "the exit changes nothing of the end");

  const orphan = await f.running();
  t.like(await f.store.finish(orphan, "failed", "job", { reason: "job-error", error: "boom" }), { outcome: "own-end" });
  t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [orphan], requeued: [], kills: [] }, "its server is gone");
  t.like(await f.store.takeReport(orphan, "server-2"), { taken: true, submitCounted: false });
  t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [], requeued: [], kills: [] });
  t.like(await f.store.finish(orphan, "failed", "exit", { exitCode: 1 }), { outcome: "unchanged" }, "a late exit reports nothing");
});

test("a report is taken by one instance only, and a take sent again by its taker (its reply lost) is answered the same", async (t) => {
  const f = setup();
  const id = await f.queued();
  t.true(await f.store.markSubmitted(id, "server-1"));
  t.like(await f.store.cancel(id, 5000), { outcome: "cancelled" });
  t.like(await f.store.takeReport(id, "server-1"), { taken: true, submitCounted: false });
  t.like(await f.store.takeReport(id, "server-1"), { taken: true, submitCounted: false }, "the same answer again");
  t.like(await f.store.takeReport(id, "server-2"), { taken: false, submitCounted: false }, "no one else's");
  t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [], requeued: [], kills: [] });

  // A cancel whose reply was lost: its end waits until a sweep lists it, and whoever takes it first reports it.
  const unanswered = await f.queued();
  await f.store.cancel(unanswered, 5000);
  t.deepEqual(await f.store.sweep(100, 60_000), { lost: [], waiting: [], requeued: [], kills: [] });
  t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [unanswered], requeued: [], kills: [] });
  t.like(await f.store.takeReport(unanswered, "server-2"), { taken: true, submitCounted: true });
  t.like(await f.store.takeReport(unanswered, "server-1"), { taken: false, submitCounted: false });
  t.like(await f.store.takeReport(newJobId(), "server-1"), { taken: false, submitCounted: false }, "no job, nothing to take");
});

test("a job its own report records lost waits for its server's report, as its own finish does", async (t) => {
  const f = setup();
  const id = await f.running(SHORT_LEASE);
  await f.leaseExpired(id);
  t.is(await f.store.report(id, LONG_LEASE), "refused");
  t.like(await f.store.finish(id, "failed", "exit", { signal: "SIGKILL" }), { outcome: "reported", state: "failed" });
  t.like(await f.store.takeReport(id, "server-1"), { taken: true });
  t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [], requeued: [], kills: [] });
});

test("a cancel that ends a claimed job before its process starts is the only report: the exit after it reports nothing", async (t) => {
  const f = setup();
  const id = await f.claimed();
  t.deepEqual(await f.store.cancel(id, 5000), { outcome: "cancelled" });
  t.like(await f.store.takeReport(id, "server-1"), { taken: true });
  t.like(await f.store.start(id, 4242, "host-1", LONG_LEASE), { ok: false, state: "cancelled" });
  t.like(await f.store.finish(id, "failed", "exit", { exitCode: 4 }), { outcome: "unchanged", state: "cancelled" });
  t.deepEqual(await f.store.sweep(100, 0), { lost: [], waiting: [], requeued: [], kills: [] });
});

test("a submit is counted once: by the instance whose create was answered, else by the claim or the end that sees it first", async (t) => {
  const f = setup();
  const answered = await f.queued();
  t.true(await f.store.markSubmitted(answered, "server-1"));
  t.true(await f.store.markSubmitted(answered, "server-1"), "asked again (its reply lost), the mark is still its own");
  t.false(await f.store.markSubmitted(answered, "server-2"), "counted once");
  t.like(await f.store.claim("i", LONG_LEASE, ["count"], ["count"]), { id: answered, submitCounted: false });

  const lostAnswer = await f.queued();
  t.like(await f.store.claim("i", LONG_LEASE, ["count"], ["count"]), { id: lostAnswer, submitCounted: true });
  t.false(await f.store.markSubmitted(lostAnswer, "server-1"), "a late mark counts nothing");

  // A claim whose answer never reached its owner: released, its mark goes, and the next claim counts the submit.
  const unanswered = await f.queued();
  t.like(await f.store.claim("lost-reply", LONG_LEASE, ["count"], ["count"]), { id: unanswered, submitCounted: true });
  t.true(await f.store.release(unanswered, "lost-reply", true));
  t.like(await f.store.claim("i", LONG_LEASE, ["count"], ["count"]), { id: unanswered, submitCounted: true });

  const cancelled = await f.queued();
  t.deepEqual(await f.store.cancel(cancelled, 5000), { outcome: "cancelled" });
  t.like(await f.store.takeReport(cancelled, "server-1"), { taken: true, submitCounted: true });
  t.false(await f.store.markSubmitted(cancelled, "server-1"));

  const gone = newJobId();
  t.false(await f.store.markSubmitted(gone, "server-1"));
  t.is(await f.client.exists(f.store.jobKeys(gone)[0]), 0, "no record is made for a job that is not there");
});

// --- Kills ---------------------------------------------------------------------

test("dueKills lists the jobs whose cancel grace has run out, until their end is recorded", async (t) => {
  const f = setup();
  const due = await f.running();
  const patient = await f.running();
  t.deepEqual(await f.store.dueKills(), []);
  await f.store.cancel(due, 0);
  await f.store.cancel(patient, 60_000);
  t.deepEqual(await f.store.dueKills(), [due]);
  t.deepEqual(await f.store.dueKills(), [due], "reading them changes nothing");
  t.like(await f.store.finish(due, "failed", "exit", { signal: "SIGKILL" }), { outcome: "ended", state: "cancelled" });
  t.deepEqual(await f.store.dueKills(), []);
  t.deepEqual(await f.client.zrange(f.kills, "0", "-1"), [patient]);
});

// --- Job types, logs, files ---------------------------------------------------

test("claim takes the oldest job of a type with a free slot, passing over types with none", async (t) => {
  const f = setup();
  const slow = await f.store.create({ type: "slow", params: {}, total: 1, queueMax: 100 });
  const quick = await f.store.create({ type: "quick", params: {}, total: 1, queueMax: 100 });
  t.like(await f.store.claim("i", LONG_LEASE, ["quick"], ["slow", "quick"]), { id: quick, type: "quick" });
  t.deepEqual(await f.client.lrange(f.queue, 0, -1), [slow], "the job of a full type keeps its place");
  t.is(await f.store.claim("i", LONG_LEASE, [], ["slow", "quick"]), null, "no free slot: nothing is taken");
  t.like(await f.store.claim("i", LONG_LEASE, ["slow"], ["slow", "quick"]), { id: slow, type: "slow" });
});

test("a claim for which every waiting job is of a busy type reads none of them", async (t) => {
  // A Redis of its own: INFO commandstats counts every client's commands.
  const own = await startRedis();
  t.teardown(() => own.close());
  const store = new JobStore(own.client, { prefix: "busy", ttlSucceededS: 60, ttlFailedS: 60 });
  const slow = await Promise.all(Array.from({ length: 50 }, () => store.create({ type: "slow", params: {}, total: 1, queueMax: 100 })));
  const hmgets = async () => Number(/cmdstat_hmget:calls=(\d+)/.exec(await own.client.info("commandstats"))?.[1] ?? 0);
  const before = await hmgets();
  t.is(await store.claim("i", LONG_LEASE, ["quick"], ["slow", "quick"]), null);
  t.is(await hmgets(), before, "no waiting job was read");
  // Once a job of the free type waits, the scan finds it behind the others.
  const quick = await store.create({ type: "quick", params: {}, total: 1, queueMax: 100 });
  t.like(await store.claim("i", LONG_LEASE, ["quick"], ["slow", "quick"]), { id: quick, type: "quick" });
  t.deepEqual(await own.client.lrange(store.partitions[0]!.queueKey, 0, -1), slow, "the busy type's jobs keep their places");
});

test("claim passes over a queued job whose type is not known and names it; endUnknownType ends it only when no live type is its own", async (t) => {
  const f = setup();
  const stray = await f.store.create({ type: "../../../../tmp/evil", params: {}, total: 1, queueMax: 100 });
  const good = await f.queued();
  const passedOver: string[] = [];
  t.like(await f.store.claim("i", LONG_LEASE, ["count"], ["count"], passedOver), { id: good, type: "count" });
  t.deepEqual(passedOver, [stray]);
  t.like(await f.store.read(stray), { state: "queued" }, "a claim never hands it out, nor ends it");
  t.false(await f.store.endUnknownType(stray, ["count", "../../../../tmp/evil"], 0), "a live instance knows its type");
  t.false(await f.store.endUnknownType(stray, ["count"], 60_000), "younger than the wait");
  t.true(await f.store.endUnknownType(stray, ["count"], 0));
  t.like(await f.store.read(stray), { state: "failed", reason: "unknown-type", pid: null, startedAt: null });
  await assertEnded(t, f, stray, "failed");
  t.false(await f.store.endUnknownType(stray, ["count"], 0), "an ended job is not ended again");
});

test("a job keeps its type's retention and time limit from its record", async (t) => {
  const f = setup();
  const id = await f.store.create({
    type: "count",
    params: {},
    total: 1,
    queueMax: 100,
    timeoutMs: 1234,
    ttlSucceededS: 77,
    ttlFailedS: 88,
  });
  t.like(await f.store.read(id), { timeoutMs: 1234 });
  await f.store.claim("i", LONG_LEASE, ["count"], ["count"]);
  await f.store.start(id, 1, "h", LONG_LEASE);
  await f.store.appendLog(id, ["a line"]);
  await f.store.finish(id, "failed", "force", { reason: "timeout" });
  for (const key of [f.store.jobKeys(id)[0], `${f.store.jobKeys(id)[0]}:log`]) {
    const ttl = await f.client.ttl(key);
    t.true(ttl > 80 && ttl <= 88, `${key}: ${ttl}`);
  }
});

test("a report sets done, total and a status line, and appends results as JSON values", async (t) => {
  const f = setup();
  const id = await f.running();
  await f.store.report(id, LONG_LEASE, { done: 1, total: 9, status: "Reading rows", results: [{ rows: 3 }, "text", 4.5, null] });
  await f.store.report(id, LONG_LEASE, { done: 2 });
  t.like(await f.store.read(id), { done: 2, total: 9, status: "Reading rows", results: [{ rows: 3 }, "text", 4.5, null], resultCount: 4 });
  t.like(await f.store.read(id, "all", { resultLimit: 2 }), { results: [{ rows: 3 }, "text"], resultCount: 4 });
  t.deepEqual(await f.store.readResults(id, 2, 3), [4.5, null]);
});

test("a job's log keeps its last lines, counts what it dropped, cuts long lines, and is read whole or by its tail", async (t) => {
  const f = setup();
  const id = await f.running();
  const lines = Array.from({ length: LOG_MAX_LINES + 5 }, (_, i) => `line ${i}`);
  t.true(await f.store.appendLog(id, lines.slice(0, 10)));
  t.true(await f.store.appendLog(id, lines.slice(10)));
  t.true(await f.store.appendLog(id, ["x".repeat(LOG_LINE_MAX_CHARS + 10)]));
  const log = await f.store.readLog(id);
  t.is(log.length, LOG_MAX_LINES);
  t.is(log[0], "line 6");
  t.is(log.at(-1)!.length, LOG_LINE_MAX_CHARS);
  t.like(await f.store.read(id, "auto", { logLines: 2 }), { logTail: ["line 1004", log.at(-1)], logCount: LOG_MAX_LINES, logDropped: 6 });
  t.false(await f.store.appendLog(newJobId(), ["no such job"]), "a job that does not exist gets no log");
  t.is(await f.client.exists(`${f.store.jobKeys(id)[0].replace(id, "x")}:log`), 0);
});

test("output files are stored only while the job runs, listed with their sizes, and read back byte for byte", async (t) => {
  const f = setup();
  const id = await f.running();
  const bytes = Buffer.from([0, 1, 2, 255, 10]);
  t.true(await f.store.putFile(id, "out.bin", bytes));
  t.true(await f.store.putFile(id, "a.txt", Buffer.from("hello\n")));
  t.deepEqual(await f.store.listFiles(id), [
    { name: "a.txt", size: 6 },
    { name: "out.bin", size: 5 },
  ]);
  t.deepEqual(await f.store.readFile(id, "out.bin"), bytes);
  t.is(await f.store.readFile(id, "missing"), null);
  await f.store.finish(id, "succeeded", "job");
  t.false(await f.store.putFile(id, "late.txt", Buffer.from("late")), "an ended job takes no files");
  t.true((await f.client.ttl(`${f.store.jobKeys(id)[0]}:files`)) > 0, "the files expire with the job");
});

test("a report sent twice (its reply lost with the connection) appends its results once", async (t) => {
  const f = setup();
  const id = await f.running();
  await f.store.report(id, LONG_LEASE, { done: 2, results: [1, 2], first: 0 });
  await f.store.report(id, LONG_LEASE, { done: 3, results: [3], first: 2 });
  await f.store.report(id, LONG_LEASE, { done: 3, results: [3], first: 2 });
  await f.store.report(id, LONG_LEASE, { done: 5, results: [3, 4, 5], first: 2 });
  t.like(await f.store.read(id), { done: 5, results: [1, 2, 3, 4, 5], resultCount: 5 });
});

test("a call refused before it is sent (a bad job id) leaves no slot of the in-flight bound taken", async (t) => {
  const store = new JobStore(fileRedis.redis.client, {
    prefix: uniquePrefix("store-bound"),
    ttlSucceededS: TTL.succeeded,
    ttlFailedS: TTL.failed,
    maxInFlight: 1,
  });
  for (let i = 0; i < 3; i++) await t.throwsAsync(store.cancel("not an id", 1000), { message: /not a job id/ });
  t.is(await store.queueLength(), 0, "the one slot is free: the next call is sent");
});

test("an upload's chunk written at its offset is appended once, however often it is sent, and a wrong offset writes nothing", async (t) => {
  const f = setup();
  const id = newJobId();
  const key = `${f.store.jobKeys(id)[0]}:upload:file`;
  t.is(await f.store.appendUpload(id, "file", Buffer.from("abc"), 0), 3);
  t.is(await f.store.appendUpload(id, "file", Buffer.from("abc"), 0), 3, "sent again: not appended twice");
  t.is(await f.store.appendUpload(id, "file", Buffer.from("de"), 3), 5);
  t.is(await f.store.appendUpload(id, "file", Buffer.from("xyz"), 1), -1, "neither at its size nor just written");
  t.is((await f.client.getBuffer(key))?.toString(), "abcde");
  t.true((await f.client.ttl(key)) > 0, "its safety TTL renewed");
});

/** The calls of each command a Redis of its own has run so far (INFO commandstats, a script's inner calls included), INFO itself left out. */
async function commandCounts(client: Redis): Promise<Record<string, number>> {
  const stats = await client.info("commandstats");
  return Object.fromEntries(
    [...stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].filter((m) => m[1] !== "info").map((m) => [m[1]!, Number(m[2])]),
  );
}

/** Every command a Redis of its own has run so far, INFO left out (commandCounts). */
async function commandsRun(client: Redis): Promise<number> {
  return Object.values(await commandCounts(client)).reduce((n, calls) => n + calls, 0);
}

test("a job's last report and its end go in one call; values past its bounds end nothing ('full')", async (t) => {
  const f = setup();
  const id = await f.running();
  t.like(
    await f.store.reportEnd(id, LONG_LEASE, { done: 2, results: [1, 2], first: 0, attempt: 1 }, "succeeded", {
      usage: { peakMemoryBytes: 1e6, cpuMs: 5 },
    }),
    {
      outcome: "own-end",
      state: "succeeded",
    },
  );
  t.like(await f.store.read(id, "all"), { state: "succeeded", done: 2, results: [1, 2], usage: { peakMemoryBytes: 1e6, cpuMs: 5 } });
  await assertEnded(t, f, id, "succeeded");
  t.is(await f.client.exists(`${f.store.jobKeys(id)[0]}:beat`), 0, "its beat key is gone");
  t.like(await f.store.takeReport(id, "server-1"), { taken: true }, "its end waits for its server's report, as a finish's does");

  const full = await f.running();
  t.is(await f.store.reportEnd(full, LONG_LEASE, { done: 3, results: [1, 2, 3], first: 0, resultsMax: 2 }, "succeeded"), "full");
  t.like(await f.store.read(full, "all"), { state: "running", results: [1, 2] }, "what fits is kept, and nothing ended");

  const cancelled = await f.running();
  await f.store.cancel(cancelled, 5000);
  t.like(await f.store.reportEnd(cancelled, LONG_LEASE, { done: 1, results: [1], first: 0 }, "succeeded"), {
    outcome: "own-end",
    state: "cancelled",
  });
  t.like(
    await f.store.read(cancelled),
    { state: "cancelled", reason: "cancelled" },
    "a cancel asked before it ends it cancelled, as a report's reply would",
  );
});

test("the finish of a process's exit takes the report of the end in the same call, and reports nothing another call took", async (t) => {
  const f = setup();
  const own = await f.running();
  t.like(await f.store.finish(own, "succeeded", "job", {}, 1), { outcome: "own-end" });
  const exit = await f.store.finish(own, "failed", "exit", { reason: "no-result", exitCode: 0 }, 1, "server-1");
  t.like(exit, { outcome: "reported", state: "succeeded", report: { taken: true, job: { id: own, type: "count", state: "succeeded" } } });
  t.like(await f.store.takeReport(own, "server-1"), { taken: true }, "a take asked again by its taker is answered the same");
  t.like(await f.store.finish(own, "failed", "exit", {}, 1, "server-1"), { outcome: "unchanged" }, "a second exit reports nothing");

  const crashed = await f.running();
  const ended = await f.store.finish(crashed, "failed", "exit", { reason: "exit-code", exitCode: 1 }, 1, "server-1");
  t.like(ended, { outcome: "ended", state: "failed", report: { taken: true, job: { state: "failed", reason: "exit-code" } } });
  t.like(await f.store.takeReport(crashed, "server-2"), { taken: false }, "no other instance takes it");

  const cancelled = await f.claimed();
  t.like(await f.store.cancel(cancelled, 5000), { outcome: "cancelled" });
  t.like(await f.store.takeReport(cancelled, "server-1"), { taken: true });
  t.like(
    await f.store.finish(cancelled, "failed", "exit", {}, 1, "server-1"),
    { outcome: "unchanged" },
    "the cancel's report was taken: the exit's takes none",
  );
});

test("a job created while nothing waits is created claimed by the instance with a free slot; behind a waiting job it waits", async (t) => {
  const f = setup();
  const input = { type: "count", params: {}, total: 1, queueMax: 100, submitter: "address 10.0.0.1" };
  const { id, claimed } = await f.store.createOrClaim(input, "instance-1", LONG_LEASE);
  t.true(claimed);
  t.like(await f.store.read(id), { state: "queued", queuePosition: null });
  t.is(await f.client.hget(f.store.jobKeys(id)[0], "owner"), "instance-1");
  t.truthy(await f.client.zscore(f.leases, id), "its start lease");
  t.deepEqual(await f.client.lrange(f.queue, 0, -1), [], "never in the queue");
  t.is(
    await f.client.hget(f.store.jobKeys(id)[0], "submitted"),
    "claim:instance-1",
    "its submit marked by its claim, for the caller to count",
  );
  t.like(await f.store.start(id, 4242, "host-1", LONG_LEASE), { ok: true });

  // Its answer lost: the release gives the job back to the queue and its submit mark with it (the next claim counts it).
  const lost = await f.store.createOrClaim(input, "instance-1", LONG_LEASE);
  t.true(lost.claimed);
  t.true(await f.store.release(lost.id, "instance-1", true));
  t.is(await f.client.hget(f.store.jobKeys(lost.id)[0], "submitted"), null, "the mark given back");
  t.like(await f.store.claim("instance-2", LONG_LEASE, ["count"], ["count"]), { id: lost.id, submitCounted: true });
  t.like(await f.store.start(lost.id, 4243, "host-2", LONG_LEASE), { ok: true });

  const waiting = await f.queued();
  const behind = await f.store.createOrClaim(input, "instance-1", LONG_LEASE);
  t.false(behind.claimed, "a job waits: the new one waits behind it");
  t.deepEqual(await f.client.lrange(f.queue, 0, -1), [waiting, behind.id]);
});

test("an idle instance's claim and sweep cost one command each, whatever the number of partitions", async (t) => {
  const own = await startRedis();
  t.teardown(() => own.close());
  const store = new JobStore(own.client, { prefix: "idle", partitions: 16, ttlSucceededS: 60, ttlFailedS: 60 });
  const claim = () => store.claim("i", LONG_LEASE, ["count"], ["count", "slow"]);
  // The first claim also looks at the queues (FULL_CLAIM_MS); then the sets of the free types say enough.
  await claim();
  const before = await commandsRun(own.client);
  t.is(await claim(), null);
  t.deepEqual(await store.sweep(), { lost: [], waiting: [], requeued: [], kills: [] });
  t.is((await commandsRun(own.client)) - before, 2, "one EXISTS each");

  // A job of a busy type waits: the free type's claim still reads nothing.
  await store.create({ type: "slow", params: {}, total: 1, queueMax: 100 });
  const busy = await commandsRun(own.client);
  t.is(await claim(), null);
  t.is((await commandsRun(own.client)) - busy, 1);
  // One of the free type: taken.
  const id = await store.create({ type: "count", params: {}, total: 1, queueMax: 100 });
  t.like(await claim(), { id, type: "count" });
});

test("scripts go by their SHA: a Redis without them (SCRIPT FLUSH) is sent each one's text once, and a server loads them all again", async (t) => {
  const own = await startRedis();
  t.teardown(() => own.close());
  const store = new JobStore(own.client, { prefix: "sha", ttlSucceededS: 60, ttlFailedS: 60 });
  const evals = async () => Number(/cmdstat_eval:calls=(\d+)/.exec(await own.client.info("commandstats"))?.[1] ?? 0);
  await own.client.script("FLUSH");
  await store.create({ type: "count", params: {}, total: 1, queueMax: 10 });
  await store.create({ type: "count", params: {}, total: 1, queueMax: 10 });
  t.is(await evals(), 1, "NOSCRIPT once, then EVAL: loaded for every connection");
  const create = LUA_COMMANDS.find((c) => c.name === "sjCreate")!;
  t.deepEqual(await own.client.script("EXISTS", create.sha), [1]);

  await own.client.script("FLUSH");
  await store.keepScriptsLoaded();
  const loaded = (await own.client.script("EXISTS", ...LUA_COMMANDS.map((c) => c.sha))) as number[];
  t.deepEqual(
    loaded,
    LUA_COMMANDS.map(() => 1),
    "every script is in Redis",
  );
  // A reconnect (a restarted Redis, a failover) loads them again.
  await own.client.script("FLUSH");
  own.client.disconnect(true);
  await waitFor(async () => ((await own.client.script("EXISTS", create.sha)) as number[])[0] === 1, {
    message: "the scripts loaded again",
  });
  t.is(await evals(), 1, "no EVAL since");
});

test("a job's store sends a command Redis answers LOADING again until Redis runs it", async (t) => {
  const own = await startRedis();
  t.teardown(() => own.close());
  const store = new JobStore(own.client, { prefix: "loading", ttlSucceededS: 60, ttlFailedS: 60, waitWhileLoading: true });
  let answers = 0;
  const redis = own.client as unknown as { ping: () => Promise<string> };
  const ping = redis.ping.bind(own.client);
  redis.ping = () => (++answers < 3 ? Promise.reject(new Error("LOADING Redis is loading the dataset in memory")) : ping());
  t.teardown(() => (redis.ping = ping));
  await store.ping();
  t.is(answers, 3, "sent again twice");
});

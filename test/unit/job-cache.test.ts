// server/job-cache.ts against a real redis-server: Redis' client tracking
// tells the cache of every change, whoever makes it; a lost connection
// flushes it; it is bounded.
import test, { type ExecutionContext } from "ava";
import { connectRedis, waitUntilReady } from "../../jobs/core/redis.ts";
import type { RedisTarget } from "../../jobs/core/settings.ts";
import { JobStore, LOG_MAX_LINES } from "../../jobs/core/store.ts";
import { JobCache, openJobPages } from "../../server/job-cache.ts";
import { uniquePrefix } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

// Serial: some tests kill connections, flush or restart the file's Redis.
const redis = useRedis(test, { appendonly: true });
const TTL = { ttlSucceededS: 600, ttlFailedS: 600 };

interface Setup {
  cache: JobCache;
  /** Another connection, as a job process or another server would write. */
  writer: JobStore;
  running: (leaseMs?: number) => Promise<string>;
  /** The cache's subscriber (its PINGs). */
  subscriber: ReturnType<typeof connectRedis>;
}

async function setup(t: ExecutionContext, options: { maxEntries?: number; maxBytes?: number; confirmMs?: number } = {}): Promise<Setup> {
  const prefix = uniquePrefix("cache");
  const reader = connectRedis(redis.url, "web");
  const subscriber = connectRedis(redis.url, "invalidations");
  await Promise.all([reader, subscriber].map((r) => waitUntilReady(r, redis.url, 10_000)));
  const cache = new JobCache({
    store: new JobStore(reader, { prefix, ...TTL }),
    subscriber,
    maxEntries: options.maxEntries ?? 1000,
    maxBytes: options.maxBytes ?? 10_000_000,
    confirmMs: options.confirmMs,
  });
  t.teardown(() => {
    cache.close();
    reader.disconnect();
    subscriber.disconnect();
  });
  await waitFor(() => cache.active, { message: "tracking to be on" });
  const writer = new JobStore(redis.client, { prefix, ...TTL });
  return {
    cache,
    writer,
    subscriber,
    running: async (leaseMs = 600_000) => {
      const id = await writer.create({ type: "count", params: { start: 1, end: 10, increment: 1 }, total: 10, queueMax: 1000 });
      t.is((await writer.claim("test", 60_000, ["count"], ["count"]))?.id, id);
      t.like(await writer.start(id, 1, "test", leaseMs), { ok: true });
      return id;
    },
  };
}

/** The job's done count as the cache answers it now. */
async function doneOf(cache: JobCache, id: string): Promise<number | undefined> {
  return (await cache.read(id))?.job.done;
}

/**
 * The newest client of a kind (CLIENT LIST TYPE pubsub / normal) whose flags
 * include one letter: this test's cache's (an earlier test's may not have
 * closed yet).
 */
async function newestClient(type: "pubsub" | "normal", flag: string): Promise<string> {
  const list = (await redis.client.call("CLIENT", "LIST", "TYPE", type)) as string;
  const ids = list
    .split("\n")
    .map((line) => Object.fromEntries(line.split(" ").map((kv) => kv.split("=") as [string, string])))
    .filter((c) => c.id && (c.flags ?? "").includes(flag))
    .map((c) => Number(c.id));
  if (ids.length === 0) throw new Error(`no ${type} client with flag ${flag}`);
  return String(Math.max(...ids));
}

test.serial("a job read once is answered from memory until another connection changes any of its keys", async (t) => {
  const { cache, writer, running } = await setup(t);
  const id = await running();
  t.is(cache.peek(id), undefined, "nothing kept before the first read");
  t.is(await doneOf(cache, id), 0);
  const kept = cache.peek(id);
  t.truthy(kept, "kept after the first read");
  t.is((await cache.read(id)) ?? undefined, kept, "the same read, from memory");

  // Each of the job's keys that the read script reads: the record, the results, the log, and (once ended) the files.
  const changes: [string, () => Promise<unknown>][] = [
    ["the record", () => writer.report(id, 600_000, { done: 1 })],
    ["the results", () => writer.redis.rpush(writer.jobKeys(id)[1], "7")],
    ["the log", () => writer.appendLog(id, ["a line"])],
    ["the files", () => writer.putFile(id, "out.txt", Buffer.from("x"))],
  ];
  for (const [what, change] of changes) {
    await cache.read(id);
    t.truthy(cache.peek(id), `kept before ${what} changes`);
    await change();
    await waitFor(() => cache.peek(id) === undefined, { timeout: 2000, message: `the cache to drop the job when ${what} changes` });
  }
  const fresh = await cache.read(id);
  t.like(fresh?.job, { done: 1, results: [7], resultCount: 1, logTail: ["a line"], logCount: 1 });
  t.true(cache.snapshot().invalidations >= changes.length);
});

test.serial("the ended job's files and results are read in the same round trip, and kept", async (t) => {
  const { cache, writer, running } = await setup(t);
  const id = await running();
  await writer.putFile(id, "b.txt", Buffer.from("bb"));
  await writer.putFile(id, "a.txt", Buffer.from("a"));
  await writer.report(id, 600_000, { done: 2, results: [1, 2] });
  await writer.finish(id, "succeeded", "job");
  const read = await cache.read(id);
  t.deepEqual(read?.files, [
    { name: "a.txt", size: 1 },
    { name: "b.txt", size: 2 },
  ]);
  t.deepEqual(read?.job.results, [1, 2]);
  t.is(read?.job.leaseExpiresAt, null);
  t.is(cache.peek(id), read ?? undefined);
});

test.serial("a waiting job is never kept: its place in line moves with the queue", async (t) => {
  const { cache, writer } = await setup(t);
  const id = await writer.create({ type: "count", params: { start: 1, end: 2, increment: 1 }, total: 2, queueMax: 1000 });
  t.is((await cache.read(id))?.job.state, "queued");
  t.is(cache.peek(id), undefined);
});

test.serial("a read in flight when its job changes (or the cache is flushed) is answered but not kept", async (t) => {
  const { cache, running } = await setup(t);
  const id = await running();
  const reading = cache.read(id);
  cache.forget(id); // what an invalidation of the job's keys does
  t.truthy(await reading);
  t.is(cache.peek(id), undefined, "not kept");
  t.is(cache.snapshot().discarded, 1);
  await cache.read(id);
  t.truthy(cache.peek(id), "the next read is kept");
});

test.serial("a running job whose lease runs out is read again, and recorded lost by that read, with no sweep", async (t) => {
  const { cache, running } = await setup(t);
  const id = await running(300);
  t.is((await cache.read(id))?.job.state, "running");
  t.truthy(cache.peek(id));
  await waitFor(() => cache.peek(id) === undefined, { timeout: 2000, message: "the entry to end with the lease" });
  // The entry ends on this process's clock; Redis' may be a few ms behind, and a read then still finds the lease alive.
  const job = await waitFor(
    async () => {
      const read = await cache.read(id);
      return read?.job.state === "running" ? null : read?.job;
    },
    { timeout: 2000, message: "a read to record the job lost" },
  );
  t.like(job, { state: "failed", reason: "lost" });
});

test.serial(
  "killing the subscriber's connection (CLIENT KILL) flushes the cache; nothing stale is served, and tracking comes back",
  async (t) => {
    const { cache, writer, running } = await setup(t);
    const id = await running();
    await cache.read(id);
    t.truthy(cache.peek(id));
    const subscriber = await newestClient("pubsub", "P");
    const flushes = cache.snapshot().flushes;
    await redis.client.call("CLIENT", "KILL", "ID", subscriber);
    // Written while no invalidation can reach this cache.
    await writer.report(id, 600_000, { done: 3 });
    await waitFor(() => cache.snapshot().flushes > flushes, { timeout: 2000, message: "the flush" });
    t.is(cache.peek(id), undefined, "flushed");
    t.is(await doneOf(cache, id), 3, "read from Redis after the flush");
    await waitFor(() => cache.active, { message: "tracking to be on again" });
    t.is(await doneOf(cache, id), 3);
    t.truthy(cache.peek(id), "kept again");
    await writer.report(id, 600_000, { done: 4 });
    await waitFor(() => cache.peek(id) === undefined, { timeout: 2000, message: "the new subscriber's invalidation" });
    t.is(await doneOf(cache, id), 4);
  },
);

test.serial("killing the reader's connection flushes the cache, and tracking is turned on again on the new one", async (t) => {
  const { cache, writer, running } = await setup(t);
  const id = await running();
  await cache.read(id);
  const reader = await newestClient("normal", "t");
  const enabled = cache.snapshot().enabled;
  await redis.client.call("CLIENT", "KILL", "ID", reader);
  await waitFor(() => cache.peek(id) === undefined && cache.snapshot().enabled > enabled, { message: "the flush and tracking again" });
  await cache.read(id);
  t.truthy(cache.peek(id));
  await writer.report(id, 600_000, { done: 5 });
  await waitFor(() => cache.peek(id) === undefined, { timeout: 2000, message: "an invalidation on the new connection" });
  t.is(await doneOf(cache, id), 5);
});

test.serial("FLUSHALL's null invalidation flushes the cache", async (t) => {
  const { cache, running } = await setup(t);
  const id = await running();
  await cache.read(id);
  const flushes = cache.snapshot().flushes;
  await redis.client.flushall();
  await waitFor(() => cache.snapshot().flushes > flushes, { timeout: 2000, message: "the flush" });
  t.is(await cache.read(id), null, "the job is gone");
});

test.serial("a Redis restart flushes the cache; the job is read again once Redis is back", async (t) => {
  const { cache, writer, running } = await setup(t);
  const id = await running();
  await cache.read(id);
  await redis.stop();
  try {
    t.is(cache.peek(id), undefined);
    t.false(cache.active);
    await t.throwsAsync(cache.read(id), { name: "StoreUnavailableError" });
  } finally {
    await redis.start();
  }
  await waitFor(() => cache.active, { message: "tracking to be on again" });
  await writer.report(id, 600_000, { done: 6 });
  t.is(await doneOf(cache, id), 6);
  t.truthy(cache.peek(id));
});

test.serial("with Redis frozen, a kept job is served no longer than the confirmation bound, then read from Redis", async (t) => {
  const confirmMs = 300;
  const { cache, running } = await setup(t, { confirmMs });
  const id = await running();
  await cache.read(id);
  // Let a PING confirm the stream once, so the bound counts from a real PONG.
  await waitFor(() => cache.peek(id) && cache.snapshot().hits > 0);
  const frozenAt = performance.now();
  process.kill(redis.pid!, "SIGSTOP");
  t.teardown(() => process.kill(redis.pid!, "SIGCONT"));
  let lastServed = frozenAt;
  await waitFor(
    () => {
      const now = performance.now();
      if (cache.peek(id)) lastServed = now;
      return now - frozenAt > confirmMs + 200 ? true : null;
    },
    { interval: 5 },
  );
  process.kill(redis.pid!, "SIGCONT");
  t.true(lastServed - frozenAt <= confirmMs, `served ${Math.round(lastServed - frozenAt)} ms after Redis froze`);
});

test.serial("the cache keeps at most its number of entries, least recently used out first", async (t) => {
  const { cache, running } = await setup(t, { maxEntries: 3 });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(await running());
  for (const id of ids.slice(0, 3)) await cache.read(id);
  cache.peek(ids[0]!); // used last: stays
  for (const id of ids.slice(3)) await cache.read(id);
  t.like(cache.snapshot(), { entries: 3, evictions: 2 });
  t.deepEqual(
    ids.map((id) => cache.peek(id) !== undefined),
    [true, false, false, true, true],
  );
});

test.serial("the cache keeps at most its bytes, counting the answers rendered from a read", async (t) => {
  const { cache, writer, running } = await setup(t, { maxBytes: 12_000 });
  const ids = [];
  for (let i = 0; i < 6; i++) {
    const id = await running();
    await writer.appendLog(
      id,
      Array.from({ length: LOG_MAX_LINES }, () => "x".repeat(100)),
    );
    ids.push(id);
  }
  for (const id of ids) await cache.read(id);
  const { bytes, entries } = cache.snapshot();
  t.true(bytes <= 12_000, `${bytes} bytes`);
  t.true(entries >= 1 && entries < 6, `${entries} entries`);
  const kept = cache.peek(ids.at(-1)!)!;
  kept.answer!("x", () => ({ status: 200, body: "y".repeat(6000) }));
  t.true(cache.snapshot().bytes <= 12_000, "an answer counts too");
  t.is(cache.snapshot().entries, 0, "which leaves no room for it");
});

test("with a bound at 0, or on a Redis Cluster connection, pages read Redis directly", async (t) => {
  const store = new JobStore(redis.client, { prefix: uniquePrefix("cache-off"), ...TTL });
  const settings = { statusCacheMaxEntries: 10, statusCacheMaxBytes: 1000 };
  const target = { kind: "url", url: redis.url } as const;
  for (const off of [{ statusCacheMaxEntries: 0 }, { statusCacheMaxBytes: 0 }]) {
    const pages = await openJobPages({ ...settings, ...off }, target, store, { readyDeadlineMs: 1000 });
    t.is(pages.cache, null);
    t.is(pages.pages.peek("0".repeat(32)), undefined);
    t.is(await pages.pages.read("0".repeat(32)), null);
  }
  const cluster: RedisTarget = { kind: "cluster", nodes: [{ host: "127.0.0.1", port: 1 }] };
  t.is((await openJobPages(settings, cluster, store, { readyDeadlineMs: 1000 })).cache, null);
});

test.serial(
  "the stream sends no PING while no entry is asked for, and confirms itself again from the first poll after the quiet",
  async (t) => {
    const confirmMs = 50;
    const { cache, running, subscriber } = await setup(t, { confirmMs });
    let pings = 0;
    const ping = subscriber.ping.bind(subscriber);
    (subscriber as unknown as { ping: () => Promise<string> }).ping = () => (pings++, ping());
    const id = await running();
    await cache.read(id);
    // Asked for: a PING every confirmMs / 4; then quiet (IDLE_CONFIRMS confirmMs): none.
    await new Promise((resolve) => setTimeout(resolve, 20 * confirmMs));
    const quiet = pings;
    await new Promise((resolve) => setTimeout(resolve, 10 * confirmMs));
    t.is(pings, quiet, "no PING while nobody asks");
    t.true(quiet > 0, "PINGs while entries were asked for");
    // The first poll after the quiet reads Redis (nothing kept was confirmed), and the PINGs come back at once.
    t.is(cache.peek(id), undefined);
    t.true(pings > quiet, "a PING at once");
    await cache.read(id);
    await waitFor(() => cache.peek(id) !== undefined, { message: "the entry served again, confirmed" });
    t.true(cache.active, "tracking stayed on: a quiet is no half-open connection");
  },
);

// Partitions (jobs/core/partitions.ts): the hash tags that spread jobs over a
// Redis Cluster's shards, and JobStore with several of them against a real
// redis-server: every key of a job under its partition's tag, one queue per
// partition, claims that take turns, and sweeps, kills and counts that look
// at every partition.
import test from "ava";
import calculateSlot from "cluster-key-slot";
import { CLUSTER_SLOTS, MAX_PARTITIONS, partitionOf, partitionTags } from "../../jobs/core/partitions.ts";
import { JobStore, newJobId, QueueFullError } from "../../jobs/core/store.ts";
import { keysUnder, useRedis } from "../support/redis.ts";
import { startApp, uniquePrefix } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

/** The hash tag of a key: what lies between its first "{" and the "}" after it. */
const tagOf = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];

for (const count of [1, 2, 3, 16, 100, MAX_PARTITIONS]) {
  test(`${count} partition(s): distinct tags, each hashing into its own 1/${count} of the slots`, (t) => {
    const tags = partitionTags(count);
    t.is(tags.length, count);
    t.is(new Set(tags).size, count);
    if (count === 1) return t.deepEqual(tags, ["jobs"], "one partition keeps the layout sidejob always had");
    tags.forEach((tag, i) => {
      const slot = calculateSlot(tag);
      t.true(slot >= (i * CLUSTER_SLOTS) / count && slot < ((i + 1) * CLUSTER_SLOTS) / count, `${tag} is in slot ${slot}`);
    });
  });
}

test("a partition count out of range is refused", (t) => {
  for (const bad of [0, -1, 1.5, MAX_PARTITIONS + 1]) t.throws(() => partitionTags(bad), { instanceOf: RangeError });
});

test("with 16 partitions and the slots of 3 masters as redis-cli assigns them, each master holds 25% to 42% of 3,000 jobs", (t) => {
  // redis-cli --cluster create gives 3 masters 0-5460, 5461-10922, 10923-16383.
  const masters = [5461, 10923, CLUSTER_SLOTS];
  const tags = partitionTags(16);
  const held = [0, 0, 0];
  for (let i = 0; i < 3000; i++) {
    const slot = calculateSlot(tags[partitionOf(newJobId(), 16)]!);
    held[masters.findIndex((end) => slot < end)]!++;
  }
  for (const n of held) t.true(n >= 750 && n <= 1260, `a master holds ${n} of 3000 (${held.join(", ")})`);
  t.log(`jobs per master: ${held.join(", ")}`);
});

function partitioned(count: number, queueMax = 1000) {
  const prefix = uniquePrefix("parts");
  const store = new JobStore(redis.client, { prefix, partitions: count, ttlSucceededS: 60, ttlFailedS: 60 });
  const queued = () => store.create({ type: "count", params: {}, total: 1, queueMax });
  return { prefix, store, queued };
}

test("every key of a job lies under its partition's tag, and its id sits in that partition's queue", async (t) => {
  const { prefix, store, queued } = partitioned(4);
  const ids = await Promise.all(Array.from({ length: 40 }, queued));
  const tags = partitionTags(4);
  for (const id of ids) {
    const { queueKey } = store.partition(id);
    t.is(tagOf(queueKey), tags[partitionOf(id, 4)]);
    for (const key of store.jobKeys(id)) t.is(tagOf(key), tagOf(queueKey));
    t.not(await redis.client.lpos(queueKey, id), null);
  }
  for (const key of await keysUnder(redis.client, prefix)) t.true(tags.includes(tagOf(key)!), key);
  t.is(await store.queueLength(), 40);
  t.true(new Set(ids.map((id) => partitionOf(id, 4))).size > 1, "the jobs went to more than one partition");
});

test("claims take from the partitions in turn, and in order within each", async (t) => {
  const { store, queued } = partitioned(3);
  const ids: string[] = [];
  // Two waiting jobs in every partition.
  while ([0, 1, 2].some((p) => ids.filter((id) => partitionOf(id, 3) === p).length < 2)) ids.push(await queued());
  const claimed: string[] = [];
  for (let id; (id = (await store.claim("me", 60_000, ["count"], ["count"]))?.id);) claimed.push(id);
  t.is(claimed.length, ids.length, "every job was claimed once");
  t.is(new Set(claimed.slice(0, 3).map((id) => partitionOf(id, 3))).size, 3, "the first three claims came from three partitions");
  for (const p of [0, 1, 2]) {
    const inPartition = (list: string[]) => list.filter((id) => partitionOf(id, 3) === p);
    t.deepEqual(inPartition(claimed), inPartition(ids), `partition ${p} gave its jobs first in, first out`);
  }
  t.is(await store.queueLength(), 0);
  t.is((await store.leasedIds()).length, ids.length);
});

test("the sweep records expired leases and the kills come due in every partition", async (t) => {
  const { store, queued } = partitioned(4);
  const ids = await Promise.all(Array.from({ length: 12 }, queued));
  const partitionsUsed = new Set(ids.map((id) => partitionOf(id, 4)));
  t.true(partitionsUsed.size > 1);
  for (let c; (c = await store.claim("me", 60_000, ["count"], ["count"]));) {
    const started = await store.start(c.id, 4242, "host", 1);
    t.true(started.ok);
  }
  const lost = new Set<string>();
  await waitFor(async () => {
    for (const id of (await store.sweep()).lost) lost.add(id);
    return lost.size === ids.length;
  });
  t.deepEqual([...lost].sort(), [...ids].sort());
  t.deepEqual(await store.leasedIds(), []);

  const more = await Promise.all(Array.from({ length: 8 }, queued));
  for (let c; (c = await store.claim("me", 60_000, ["count"], ["count"]));) await store.start(c.id, 4242, "host", 60_000);
  for (const id of more) t.deepEqual(await store.cancel(id, 1), { outcome: "requested" });
  const due = new Set<string>();
  await waitFor(async () => {
    for (const id of await store.dueKills()) due.add(id);
    return due.size === more.length;
  });
  t.deepEqual([...due].sort(), [...more].sort());
});

test("the queue limit counts the jobs waiting in every partition", async (t) => {
  const { prefix, store, queued } = partitioned(8, 5);
  for (let i = 0; i < 5; i++) await queued();
  const keys = (await keysUnder(redis.client, prefix)).sort();
  await t.throwsAsync(queued(), { instanceOf: QueueFullError });
  t.deepEqual((await keysUnder(redis.client, prefix)).sort(), keys, "nothing was written");
  t.is(await store.queueLength(), 5);
});

test("an app with REDIS_PARTITIONS=8 runs, cancels and shows jobs of every partition", async (t) => {
  const app = await startApp(t, {
    redis,
    name: "parts-app",
    env: { REDIS_PARTITIONS: "8", JOB_CONCURRENCY_COUNT: "2", COUNT_STEP_DELAY_MS: "100" },
  });
  const short = await Promise.all(Array.from({ length: 6 }, () => app.submit({ start: "1", end: "3", increment: "1" })));
  for (const id of short) t.is((await app.waitForState(id, "succeeded")).results.length, 3);
  const long = await app.submit({ ...LONG_COUNT });
  await app.waitForState(long, "running");
  await app.post(`/jobs/${long}/cancel`, "");
  await app.waitForState(long, "cancelled");
  const tags = new Set([...short, long].map((id) => tagOf(app.store.jobKeys(id)[0])));
  t.true(tags.size > 1, "the jobs went to more than one partition");
  t.is(await app.store.queueLength(), 0);
  t.deepEqual(await app.store.leasedIds(), []);
});

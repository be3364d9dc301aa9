// Fair turns and limits per submitter (jobs/core/lua/includes/turns.lua):
// the store's claims against a real Redis, in one partition and in four;
// the limits through the form (429) and through the claim; and what one
// claim costs Redis with 1,000 submitters waiting.
import test, { type ExecutionContext } from "ava";
import { JobStore, SubmitterQueueFullError } from "../../jobs/core/store.ts";
import { monitorRedis } from "../support/monitor.ts";
import { useRedis } from "../support/redis.ts";
import { startApp, uniquePrefix } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);
const COUNT = { start: 1, end: 2, increment: 1 };

function storeFor(t: ExecutionContext, partitions: number): JobStore {
  return new JobStore(redis.client, {
    prefix: uniquePrefix(`turns-${t.title.slice(0, 12)}`),
    partitions,
    ttlSucceededS: 60,
    ttlFailedS: 60,
  });
}

async function queue(store: JobStore, submitter: string, n: number, max = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(await store.create({ type: "count", params: COUNT, total: 2, queueMax: 1e9, submitter, maxQueuedPerSubmitter: max }));
  }
  return ids;
}

/** Claims one job at a time (one free slot), ending each before the next: the submitters in the order their jobs were taken. */
async function takeAll(store: JobStore, owners: Map<string, string>, n: number, maxRunning = 0): Promise<string[]> {
  const order: string[] = [];
  for (let i = 0; i < n; i++) {
    const claimed = await store.claim("turns-test", 60_000, ["count"], ["count"], undefined, maxRunning);
    if (!claimed) break;
    order.push(owners.get(claimed.id)!);
    await store.finish(claimed.id, "succeeded", "force");
  }
  return order;
}

for (const partitions of [1, 4]) {
  test(`person A queues 50 jobs, then B one: B's job is taken after at most one more of A's (${partitions} partition${partitions > 1 ? "s" : ""})`, async (t) => {
    const store = storeFor(t, partitions);
    const owners = new Map<string, string>();
    for (const id of await queue(store, "person A", 50)) owners.set(id, "A");
    const [b] = await queue(store, "person B", 1);
    owners.set(b!, "B");
    const order = await takeAll(store, owners, 51);
    t.is(order.length, 51);
    t.true(order.indexOf("B") <= 1, order.join(""));
    t.is(order.filter((who) => who === "A").length, 50);
  });

  test(`three people's jobs are taken in turns, and each person's in the order sent (${partitions} partition${partitions > 1 ? "s" : ""})`, async (t) => {
    const store = storeFor(t, partitions);
    const owners = new Map<string, string>();
    const sent: Record<string, string[]> = {};
    for (const who of ["A", "B", "C"]) {
      sent[who] = await queue(store, `person ${who}`, 5);
      for (const id of sent[who]) owners.set(id, who);
    }
    const taken: string[] = [];
    for (let i = 0; i < 15; i++) {
      const claimed = await store.claim("turns-test", 60_000, ["count"], ["count"]);
      taken.push(claimed!.id);
      await store.finish(claimed!.id, "succeeded", "force");
    }
    const who = taken.map((id) => owners.get(id)!);
    // Every window of three takes one job of each person.
    for (let i = 0; i + 3 <= 15; i += 3) t.deepEqual([...who.slice(i, i + 3)].sort(), ["A", "B", "C"], who.join(""));
    for (const person of ["A", "B", "C"]) {
      if (partitions === 1)
        t.deepEqual(
          taken.filter((id) => owners.get(id) === person),
          sent[person],
        );
    }
  });
}

test("a submitter may have JOB_MAX_QUEUED_PER_SUBMITTER jobs waiting, counted over every partition: one more is refused, and accepted once one has started", async (t) => {
  const store = storeFor(t, 4);
  await queue(store, "person A", 3, 3);
  const refused = await t.throwsAsync(queue(store, "person A", 1, 3), { instanceOf: SubmitterQueueFullError });
  t.like(refused, { limit: 3, waiting: 3 });
  await queue(store, "person B", 1, 3);
  const claimed = await store.claim("turns-test", 60_000, ["count"], ["count"]);
  t.truthy(claimed);
  // B's job or one of A's was taken: A has room again only if it was A's.
  if ((await store.read(claimed!.id))!.submitter === "person A") await t.notThrowsAsync(queue(store, "person A", 1, 3));
  else await t.throwsAsync(queue(store, "person A", 1, 3), { instanceOf: SubmitterQueueFullError });
});

test("with JOB_MAX_RUNNING_PER_SUBMITTER, a submitter at the limit is passed over until one of its jobs ends", async (t) => {
  const store = storeFor(t, 1);
  const [a1, a2] = await queue(store, "person A", 2);
  const [b1] = await queue(store, "person B", 1);
  const claim = () => store.claim("turns-test", 60_000, ["count"], ["count"], undefined, 1);
  const first = await claim();
  const second = await claim();
  t.deepEqual([first!.id, second!.id].sort(), [a1!, b1!].sort());
  t.is(await claim(), null, "A has one running, B none waiting: nothing to take");
  await store.finish(a1!, "succeeded", "force");
  t.is((await claim())!.id, a2!);
});

test("a queued job that is cancelled leaves its submitter's turn; one given back goes first again", async (t) => {
  const store = storeFor(t, 1);
  const [a1, a2] = await queue(store, "person A", 2);
  await store.cancel(a1!, 1000);
  t.is((await store.claim("turns-test", 60_000, ["count"], ["count"]))!.id, a2!);
  t.true(await store.release(a2!, "turns-test"));
  t.is((await store.claim("turns-test", 60_000, ["count"], ["count"]))!.id, a2!);
  await store.finish(a2!, "succeeded", "force");
  t.is(await store.claim("turns-test", 60_000, ["count"], ["count"]), null);
  t.deepEqual(await redis.client.zrange(`${store.jobKeys(a2!)[0].split("job:")[0]}ix:turns`, "0", "-1"), []);
});

// Serial: alone on the Redis its MONITOR watches.
test.serial("a claim with 1,000 submitters waiting costs one script call and a few dozen commands inside it", async (t) => {
  const store = storeFor(t, 1);
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) => queue(store, `address 10.0.${Math.floor((i + k) / 250)}.${(i + k) % 250}`, 1)));
  }
  // The script is loaded on this connection (its first call sends it whole).
  t.truthy(await store.claim("turns-test", 60_000, ["count"], ["count"]));
  const calls: string[][] = [];
  const inside: string[][] = [];
  const monitor = await monitorRedis(redis.url, (args, source) => (source === "lua" ? inside : calls).push(args));
  t.teardown(() => monitor.close());
  const claimed = await store.claim("turns-test", 60_000, ["count"], ["count"]);
  t.truthy(claimed);
  await waitFor(() => calls.some((args) => /^evalsha$/i.test(args[0]!)), { message: "the claim seen by MONITOR" });
  monitor.close();
  t.log(`${calls.length} calls, ${inside.length} commands inside the script`);
  t.is(calls.filter((args) => /^eval/i.test(args[0]!)).length, 1);
  t.true(inside.length <= 30, `${inside.length} commands: ${inside.map((a) => a[0]).join(" ")}`);
});

test("through the form: past JOB_MAX_QUEUED_PER_SUBMITTER a submit answers 429 with the limit, and nothing is created", async (t) => {
  const a = await startApp(t, { redis, name: "turns-form", env: { JOB_MAX_QUEUED_PER_SUBMITTER: "2", JOB_CONCURRENCY_COUNT: "0" } });
  const send = (accept?: string) => a.post("/jobs/new/count", { start: "1", end: "3", increment: "1" }, accept ? { Accept: accept } : {});
  t.is((await send()).status, 303);
  t.is((await send()).status, 303);
  const page = await send();
  t.is(page.status, 429);
  t.truthy(page.headers.get("retry-after"));
  t.regex(await page.text(), /You have 2 jobs waiting to start, the most one person may have \(2\)/);
  const json = await send("application/json");
  t.is(json.status, 429);
  t.like(await json.json(), { error: "too-many-waiting" });
  t.is((await a.store.listJobs({ types: ["count"] }, 10)).rows.length, 2);
});

test("through the form, with one slot: person A sends 50 jobs, then person B one; B's starts after at most one more of A's", async (t) => {
  const a = await startApp(t, {
    redis,
    name: "turns-people",
    env: {
      TRUSTED_USER_HEADER: "X-Forwarded-User",
      TRUSTED_PROXIES: "127.0.0.1,::1",
      JOB_CONCURRENCY_COUNT: "1",
      COUNT_STEP_DELAY_MS: "20",
    },
  });
  const send = async (who: string) => {
    const res = await a.post("/jobs/new/count", { start: "1", end: "3", increment: "1" }, { "X-Forwarded-User": who });
    if (res.status !== 303) throw new Error(`${res.status}: ${await res.text()}`);
    return res.headers.get("location")!.split("/").pop()!;
  };
  const aJobs: string[] = [];
  for (let i = 0; i < 50; i++) aJobs.push(await send("ann"));
  const bJob = await send("bob");
  const b = await a.waitForState(bJob, "succeeded", 60_000);
  const records = await Promise.all(aJobs.map((id) => a.store.read(id)));
  // A's jobs that started while B's waited: after B's was created, before B's started.
  const between = records.filter((r) => r!.startedAt !== null && r!.startedAt > b.createdAt! && r!.startedAt < b.startedAt!);
  t.true(between.length <= 1, `${between.length} of A's jobs started while B's waited`);
  t.true(
    records.some((r) => r!.state === "queued"),
    "A still had jobs waiting when B's started: the test measured the turns",
  );
});

test("/admin shows the queue by submitter, next in turn first, with each one's waiting and running jobs", async (t) => {
  const a = await startApp(t, {
    redis,
    name: "turns-admin",
    env: {
      ADMIN_USERS: "olga",
      TRUSTED_USER_HEADER: "X-Forwarded-User",
      TRUSTED_PROXIES: "127.0.0.1,::1",
      JOB_CONCURRENCY_COUNT: "0",
    },
  });
  for (const [who, n] of [
    ["ann", 3],
    ["bob", 1],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const res = await a.post("/jobs/new/count", { start: "1", end: "3", increment: "1" }, { "X-Forwarded-User": who });
      t.is(res.status, 303);
    }
  }
  const olga = { "X-Forwarded-User": "olga" };
  const overview = (await (await a.get("/admin", { ...olga, Accept: "application/json" })).json()) as {
    queue: { bySubmitter: { who: string; waiting: number; running: number; lastTurnAt: string | null }[] };
  };
  t.deepEqual(overview.queue.bySubmitter.map((q) => [q.who, q.waiting, q.running]).sort(), [
    ["person ann", 3, 0],
    ["person bob", 1, 0],
  ]);
  const page = await (await a.get("/admin", olga)).text();
  t.regex(page, /Waiting, by submitter/);
  t.regex(page, /person ann/);
});

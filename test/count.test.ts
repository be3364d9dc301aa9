import test from "ava";
import { startRedis, keysUnder, type TestRedis } from "./helpers/redis.ts";
import { startApp, type TestApp } from "./helpers/app.ts";

let redis: TestRedis;
let app: TestApp;

test.before(async () => {
  redis = await startRedis();
  app = await startApp({ redisUrl: redis.url, name: "count" });
});
test.after.always(async () => {
  await app?.close();
  await redis?.close();
});

const counts: [string, Record<string, string>, number[]][] = [
  ["counts up from 1 to 10", { start: "1", end: "10", increment: "1" }, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
  ["counts down with a negative increment", { start: "5", end: "1", increment: "-1" }, [5, 4, 3, 2, 1]],
  ["counts by 3 and stops before passing the end", { start: "1", end: "10", increment: "3" }, [1, 4, 7, 10]],
  ["counts 1..10 by 4 as 1, 5, 9", { start: "1", end: "10", increment: "4" }, [1, 5, 9]],
  ["gives one value when start equals end", { start: "7", end: "7", increment: "1" }, [7]],
  ["counts exactly at the edges of the safe integer range", { start: String(Number.MIN_SAFE_INTEGER), end: String(Number.MAX_SAFE_INTEGER), increment: "9007199254740991" }, [Number.MIN_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER]],
];

for (const [title, form, expected] of counts) {
  test(`the counter process ${title}`, async (t) => {
    const id = await app.submit(form);
    const job = await app.waitForState(id, ["succeeded", "failed"]);
    t.is(job.state, "succeeded", job.error ?? "");
    t.deepEqual(job.results, expected);
    t.is(job.done, expected.length);
    t.is(job.total, expected.length);
    t.truthy(job.pid);
    t.truthy(job.host);
    t.true(job.startedAt! >= job.createdAt! && job.finishedAt! >= job.startedAt!);
    t.true((await keysUnder(redis.client, app.prefix)).length > 0);
  });
}

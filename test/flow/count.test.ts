// The counter as a real job process: what it records, end to end. The
// arithmetic itself is tested on its own in counting.test.ts.
import test from "ava";
import { useApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const app = useApp(test, { redis, name: "count" });

const counts: [string, Record<string, string>, number[]][] = [
  ["counts down with a negative increment", { start: "5", end: "1", increment: "-1" }, [5, 4, 3, 2, 1]],
  [
    "records exact values at the edges of the safe integer range",
    { start: String(Number.MIN_SAFE_INTEGER), end: String(Number.MAX_SAFE_INTEGER), increment: "9007199254740991" },
    [Number.MIN_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER],
  ],
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
    t.true((await keysUnder(redis.client, app.prefix)).some((key) => key.includes(id)));
  });
}

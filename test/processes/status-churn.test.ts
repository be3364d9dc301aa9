// Correctness under churn: two server instances, 50 jobs changing every
// 10 ms, and pollers that compare every status answer with what was written
// to Redis. No answer may be older than the status cache's freshness bound
// (CONFIRM_MS, server/job-cache.ts), during the churn or after it (when an
// answer kept by mistake would stay stale for good).
import test from "ava";
import { connectRedis, waitUntilReady } from "../../jobs/core/redis.ts";
import { JobStore } from "../../jobs/core/store.ts";
import { CONFIRM_MS } from "../../server/job-cache.ts";
import { churn } from "../support/churn.ts";
import { useRedis } from "../support/redis.ts";
import { serverEnv, startServer } from "../support/server.ts";

const redis = useRedis(test);

test("two instances under churn never answer a status poll older than the freshness bound", async (t) => {
  const env = serverEnv(redis, "churn", { NODE_ENV: "production" });
  const servers = await Promise.all([startServer(t, env), startServer(t, env)]);
  // The writer's own connection, auto-pipelined as a server's is: 50 reports every 10 ms.
  const writer = connectRedis(redis.url, "web");
  t.teardown(() => writer.disconnect());
  await waitUntilReady(writer, redis.url, 10_000);
  const store = new JobStore(writer, { prefix: env.REDIS_PREFIX!, ttlSucceededS: 600, ttlFailedS: 600 });
  const result = await churn(store, {
    urls: servers.map((s) => s.url),
    jobs: 50,
    intervalMs: 10,
    churnMs: 3000,
    quietMs: CONFIRM_MS + 500,
    pollers: 16,
  });
  t.log(
    `${result.polls} polls, ${result.writes} writes (${(result.writes / 50 / 3).toFixed(0)} changes per job per second); staleness p99 ${result.p99.toFixed(1)} ms, max ${result.max.toFixed(1)} ms (bound ${CONFIRM_MS} ms)`,
  );
  t.deepEqual(result.wrong, [], "every answer is a fragment showing a value that was written");
  t.true(result.polls > 200, `${result.polls} polls`);
  // Enough churn for the check to mean something: each job changed many times while polled (about
  // 300 times alone; beside two busy loops, 2,087 writes in all). The rate itself is logged above.
  t.true(result.writes > 50 * 10, `${result.writes} writes in 3 s`);
  t.true(result.max <= CONFIRM_MS, `an answer ${result.max.toFixed(1)} ms older than Redis`);
});

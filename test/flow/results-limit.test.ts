// What one job may keep of its results (JOB_RESULTS_MAX, JOB_RESULTS_MAX_BYTES):
// a program that floods results is stopped at the cap, ends failed with the
// reason results-limit, and Redis grows by at most the cap.
import test, { type ExecutionContext } from "ava";
import { useRedis } from "../support/redis.ts";
import { launchApp, WITH_FIXTURE_TYPES, type TestApp } from "../support/app.ts";
import { JOB_TYPES as FIXTURE_TYPES } from "../fixtures/types/index.ts";
import { jobView } from "../../server/job-view.ts";

const fileRedis = { redis: useRedis(test) };

async function app(t: ExecutionContext, name: string, env: Record<string, string>): Promise<TestApp> {
  const a = await launchApp({ redis: fileRedis.redis, name, env: { JOB_HEARTBEAT_MS: "1000", ...env }, ...WITH_FIXTURE_TYPES });
  t.teardown(() => a.close());
  return a;
}

async function usedMemory(): Promise<number> {
  const info = await fileRedis.redis.client.info("memory");
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}

/** Every key of the job, and the bytes Redis says each takes. */
async function jobKeyBytes(prefix: string, id: string): Promise<number> {
  const keys = await fileRedis.redis.client.keys(`${prefix}*${id}*`);
  let bytes = 0;
  for (const key of keys) bytes += Number(await fileRedis.redis.client.memory("USAGE", key, "SAMPLES", "0"));
  return bytes;
}

async function flood(t: ExecutionContext, name: string, env: Record<string, string>, cap: number) {
  const a = await app(t, name, env);
  const type = FIXTURE_TYPES.find((ty) => ty.name === "py-flood")!;
  const before = await usedMemory();
  const id = await a.store.create({ type: type.name, params: {}, total: 0, queueMax: 1000 });
  await a.supervisor.pump();
  await a.waitForState(id, ["succeeded", "failed", "cancelled"], 30_000);
  await a.supervisor.idle();
  const job = (await a.store.read(id, "all"))!;
  const grown = (await usedMemory()) - before;
  const kept = await jobKeyBytes(a.prefix, id);
  return { a, id, job, grown, kept, cap };
}

test("a program flooding results with 1 KB values is stopped at JOB_RESULTS_MAX_BYTES, ends failed as results-limit, and Redis grows by at most the cap", async (t) => {
  const cap = 2 * 1024 * 1024;
  const { a, id, job, grown, kept } = await flood(t, "flood-bytes", { JOB_RESULTS_MAX_BYTES: String(cap) }, cap);
  t.is(job.state, "failed", JSON.stringify({ ...job, results: job.results.length }));
  t.is(job.reason, "results-limit");
  const stored = job.results.reduce<number>((n, v) => n + JSON.stringify(v).length, 0);
  t.true(stored <= cap, `${stored} bytes of results kept`);
  t.true(job.resultCount > 1000, `it kept what it made before the cap (${job.resultCount} results)`);
  t.true(kept <= cap * 1.25, `the job's keys take ${kept} bytes in Redis (cap ${cap})`);
  t.true(grown <= cap * 1.5, `Redis grew by ${grown} bytes (cap ${cap})`);
  const log = (await a.store.readLog(id)).join("\n");
  t.regex(log, /results would pass what one job may keep/);
  const view = jobView(job);
  t.regex(view.failure!.message, /more results than one job may keep/);
});

test("a program flooding results is stopped at JOB_RESULTS_MAX results, with exactly that many kept", async (t) => {
  const { job } = await flood(t, "flood-count", { JOB_RESULTS_MAX: "500" }, 0);
  t.is(job.state, "failed");
  t.is(job.reason, "results-limit");
  t.is(job.resultCount, 500, "the results that fit are kept, up to the cap");
});

// A job's lines come in the order of its life: submitted, then started. The
// create's submit mark and a pump's claim of the job are answered on two
// connections, in either order; a start whose job this instance is still
// marking waits for the mark (server/supervisor/index.ts).
import test from "ava";
import { JobStore } from "../../jobs/core/store.ts";
import { startApp } from "../support/app.ts";
import { memoryLogger } from "../support/logs.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

test("a job claimed before its submit mark is answered is logged submitted, then started", async (t) => {
  const log = memoryLogger();
  const app = await startApp(t, { redis, name: "submit-order", logger: log.logger });
  // The mark's reply comes late: only once a pump has claimed the job.
  // The method itself, called below with its store as `this`.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const mark = JobStore.prototype.markSubmitted;
  t.teardown(() => {
    JobStore.prototype.markSubmitted = mark;
  });
  JobStore.prototype.markSubmitted = async function (this: JobStore, id, instanceId) {
    const marked = await mark.call(this, id, instanceId);
    void app.supervisor.pump();
    await waitFor(async () => (await redis.client.hget(app.store.jobKeys(id)[0], "owner")) !== null, { message: "the claim" });
    return marked;
  };
  const id = await app.submit({ start: "1", end: "2", increment: "1" });
  await app.waitForState(id, "succeeded");
  await app.supervisor.idle();
  const events = log.records.filter((r) => r.job === id).map((r) => r.event);
  t.deepEqual(events, ["job-submitted", "job-started", "job-finished"]);
});

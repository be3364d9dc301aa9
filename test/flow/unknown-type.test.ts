// Only registered types ever run: a record written into Redis by anything
// else, whose type is a path to a script of its own, is ended failed
// ('unknown-type') and nothing is spawned for it. A type that another live
// instance knows (a rolling upgrade, another JOB_TYPES_DIR) is not unknown:
// its jobs wait for that instance.
import fs from "node:fs";
import test from "ava";
import { newJobId } from "../../jobs/core/store.ts";
import { HEARTBEAT_TTL_MS } from "../../server/supervisor/index.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

const EVIL = "/tmp/evil.js";
const MARKER = "/tmp/evil.ran";

test("a queued record whose type is ../../../../tmp/evil ends failed with reason unknown-type, and no process runs", async (t) => {
  // What would run if a type could pick a script: it leaves a marker naming the job.
  fs.writeFileSync(EVIL, `require("fs").appendFileSync(${JSON.stringify(MARKER)}, process.argv[2] + "\\n");\n`);
  const app = await startApp(t, { redis, name: "evil" });
  const id = await queueRecord(app, "../../../../tmp/evil");
  await app.supervisor.pump();

  const ended = await app.waitForState(id, "failed");
  t.is(ended.reason, "unknown-type");
  t.is(ended.pid, null);
  t.false(fs.existsSync(MARKER) && fs.readFileSync(MARKER, "utf8").includes(id), "the evil script did not run");
  t.false(fs.existsSync(`${app.logDir}/${id}.log`), "no process was started for it");
  t.is(app.supervisor.size, 0);
  t.is(await app.store.queueLength(), 0);

  // The app goes on running registered types.
  await app.waitForState(await app.submit({ start: "1", end: "2", increment: "1" }), "succeeded");
});

test("a queued job of a type another live instance knows waits for it; once none does, it ends unknown-type", async (t) => {
  const app = await startApp(t, { redis, name: "rolling" });
  // A newer instance, as its heartbeat says: it knows a type this one does not.
  const newer = {
    host: "newer",
    pid: 1,
    version: "9.9.9",
    startedAt: Date.now(),
    slotsUsed: 0,
    slotsTotal: 1,
    types: {},
    known: ["report-v2"],
  };
  await app.store.heartbeat("newer-instance", newer, 60_000);
  // A job of a type no instance knows but submitted just now (an instance that knows it may not have
  // written its first heartbeat yet), one of the newer instance's type, one of a type nobody knows.
  const youngAt = Date.now();
  const young = await queueRecord(app, "from-the-future", youngAt);
  const known = await queueRecord(app, "report-v2");
  const orphan = await queueRecord(app, "nobody-knows");
  const checked = await waitFor(
    async () => {
      await app.supervisor.pump();
      const job = await app.store.read(orphan);
      return job?.state === "failed" ? job : null;
    },
    { message: "the job of a type nobody knows to end" },
  );
  const checkedAt = Date.now();
  t.is(checked.reason, "unknown-type");
  // The claim passed over all three, and the check that ended the orphan looked at the others.
  t.is((await app.store.read(known))?.state, "queued", "a type a live instance knows is left waiting");
  if (checkedAt - youngAt < HEARTBEAT_TTL_MS)
    t.is((await app.store.read(young))?.state, "queued", "a job younger than a heartbeat's lifetime is left waiting");
  t.is(app.supervisor.size, 0, "nothing ran");

  // The newer instance is gone: its jobs end, said so.
  await app.store.heartbeat("newer-instance", newer, 1);
  const ended = await waitFor(
    async () => {
      await app.supervisor.pump();
      const job = await app.store.read(known);
      return job?.state === "failed" ? job : null;
    },
    { message: "the job of the gone instance's type to end" },
  );
  t.is(ended.reason, "unknown-type");
});

/** Writes a queued record of a type straight into Redis (as anything but sidejob could); createdAt: a minute ago unless given. */
async function queueRecord(app: TestApp, type: string, createdAt = Date.now() - 60_000): Promise<string> {
  const id = newJobId();
  const [job] = app.store.jobKeys(id);
  await redis.client.hset(job, { id, type, params: "{}", state: "queued", createdAt, updatedAt: createdAt, done: 0, total: 0 });
  await redis.client.rpush(app.store.partition(id).queueKey, id);
  return id;
}

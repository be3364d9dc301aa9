// Only registered types ever run: a record written into Redis by anything
// else, whose type is a path to a script of its own, is ended failed
// ('unknown-type') and nothing is spawned for it.
import fs from "node:fs";
import test from "ava";
import { newJobId } from "../../jobs/core/store.ts";
import { startApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";

const redis = useRedis(test);

const EVIL = "/tmp/evil.js";
const MARKER = "/tmp/evil.ran";

test("a queued record whose type is ../../../../tmp/evil ends failed with reason unknown-type, and no process runs", async (t) => {
  // What would run if a type could pick a script: it leaves a marker naming the job.
  fs.writeFileSync(EVIL, `require("fs").appendFileSync(${JSON.stringify(MARKER)}, process.argv[2] + "\\n");\n`);
  const app = await startApp(t, { redis, name: "evil" });
  const id = newJobId();
  const [job] = app.store.jobKeys(id);
  await redis.client.hset(job, {
    id,
    type: "../../../../tmp/evil",
    params: "{}",
    state: "queued",
    createdAt: Date.now(),
    updatedAt: Date.now(),
    done: 0,
    total: 0,
  });
  await redis.client.rpush(app.store.partition(id).queueKey, id);
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

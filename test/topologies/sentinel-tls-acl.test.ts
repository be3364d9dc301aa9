// sidejob on Redis with Sentinel where the master, the replica and the
// sentinels take only TLS (replication too) and the data nodes only an ACL
// user with the rights docs/operations.md gives: the web, the supervisor and
// the job's own process find the master through the sentinels and connect
// to it with REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS and REDIS_TLS_CA.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { startApp } from "../support/app.ts";
import { startSentinel, type TestSentinel } from "../support/sentinel.ts";
import { waitFor } from "../support/wait.ts";
import { countRuns, makeCertificates, SIDEJOB_ACL } from "../support/tls.ts";

const PREFIX = "t-stls";
const PASSWORD = "sentinel-acl-password-0123456789";

let sentinel: TestSentinel;
let dir: string;
test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-sentinel-tls-"));
  sentinel = await startSentinel({ tls: makeCertificates(dir), user: { name: "sidejob", password: PASSWORD, rules: SIDEJOB_ACL(PREFIX) } });
});
test.after.always(async () => {
  await sentinel?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("over TLS as the documented ACL user, through the sentinels: a job runs and is shown, and another after a failover", async (t) => {
  t.is(sentinel.env.REDIS_TLS, "on");
  t.is(sentinel.env.REDIS_USERNAME, "sidejob");
  const app = await startApp(t, { redis: { env: sentinel.env }, prefix: PREFIX });
  const id = await countRuns(t, app);
  const master = await sentinel.master();
  const keys = await master.keys("*");
  t.true(keys.some((k) => k.endsWith(`:job:${id}`)));
  t.deepEqual(
    keys.filter((k) => !k.startsWith(`${PREFIX}:`)),
    [],
    "nothing outside the prefix the ACL allows",
  );

  // The master dies: the sentinels promote the replica, and sidejob connects to it the same way.
  const old = await sentinel.killMaster();
  await sentinel.waitForNewMaster(old);
  // Answered 503 until the web's connection has found the new master.
  const after = await waitFor(() => app.submit({ start: "1", end: "3", increment: "1" }).catch(() => null), {
    timeout: 60_000,
    interval: 250,
    message: "a submit accepted by the new master",
  });
  t.deepEqual((await app.waitForState(after, "succeeded", 60_000)).results, [1, 2, 3]);
});

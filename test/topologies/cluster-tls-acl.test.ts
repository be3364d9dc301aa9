// sidejob on a Redis Cluster that takes only TLS (between its nodes too) and
// only an ACL user with the rights docs/operations.md gives: the web, the
// supervisor and the job's own process connect to every node with
// REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS and REDIS_TLS_CA. A wrong
// password stops the start at once, naming the setting.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { RedisRefusedError } from "../../jobs/core/redis.ts";
import { loadConfig } from "../../server/config.ts";
import { createInstance, InstanceError } from "../../server/instance.ts";
import { silentLogger } from "../../server/log.ts";
import { startApp } from "../support/app.ts";
import { countRuns, makeCertificates, SIDEJOB_ACL } from "../support/tls.ts";
import { clusterKeysUnder, startCluster, type TestCluster } from "../support/cluster.ts";

const PREFIX = "t-ctls";
const PASSWORD = "cluster-acl-password-0123456789";

let cluster: TestCluster;
let dir: string;
test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-cluster-tls-"));
  cluster = await startCluster({ tls: makeCertificates(dir), user: { name: "sidejob", password: PASSWORD, rules: SIDEJOB_ACL(PREFIX) } });
});
test.after.always(async () => {
  await cluster?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test.serial(
  "over TLS as the documented ACL user on every node: a job is submitted, runs in its own process, and its page is served",
  async (t) => {
    t.is(cluster.env.REDIS_TLS, "on");
    t.is(cluster.env.REDIS_USERNAME, "sidejob");
    const app = await startApp(t, { redis: { env: cluster.env }, prefix: PREFIX });
    const id = await countRuns(t, app);
    // Whatever was written is under the prefix the ACL allows, on whichever master holds it.
    const keys = await clusterKeysUnder(cluster, PREFIX);
    t.true(keys.some((k) => k.endsWith(`:job:${id}`)));
  },
);

test.serial("a wrong password for the ACL user stops the start at once, naming the setting and never the password", async (t) => {
  const config = loadConfig({ ...cluster.env, REDIS_PASSWORD: "not-the-password-at-all", REDIS_PREFIX: PREFIX, PATH: process.env.PATH });
  const started = Date.now();
  const err = await t.throwsAsync(createInstance(config, { logger: silentLogger, readyDeadlineMs: 20_000 }), { instanceOf: InstanceError });
  t.true(err.cause instanceof RedisRefusedError, err.message);
  t.true(Date.now() - started < 10_000, "refused at once, not after the start's deadline");
  t.regex(err.message, /REDIS_USERNAME and REDIS_PASSWORD/);
  t.false(err.message.includes("not-the-password-at-all"));
});

// sidejob on a Redis that takes only TLS and only an ACL user with the
// smallest rights sidejob needs (the ACL documented in docs/operations.md):
// the web, the supervisor, the status cache and the job's own process all
// connect with REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS_CA. A wrong
// password or an untrusted certificate stops the start at once, naming the
// setting, without the secret.
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { loadConfig } from "../../server/config.ts";
import { createInstance, InstanceError } from "../../server/instance.ts";
import { RedisRefusedError } from "../../jobs/core/redis.ts";
import { startApp } from "../support/app.ts";
import { silentLogger } from "../../server/log.ts";
import { countRuns, makeCertificates, redisTlsArgs, SIDEJOB_ACL } from "../support/tls.ts";
import { freePort } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";

const PASSWORD = "tls-acl-password-0123456789";
const ADMIN = "admin-password-0123456789abc";
const PREFIX = "t-tls";

interface TlsRedis {
  port: number;
  ca: string;
  proc: ChildProcess;
  dir: string;
}

async function startTlsRedis(): Promise<TlsRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-tls-"));
  const certs = makeCertificates(dir);
  const port = await freePort();
  // TLS only (no plain port), and the default user has a password sidejob is never given.
  const proc = spawn(
    "redis-server",
    [...redisTlsArgs(certs, port), "--bind", "127.0.0.1", "--requirepass", ADMIN, "--save", "", "--appendonly", "no", "--dir", dir],
    { cwd: dir, stdio: "ignore" },
  );
  const redis = { port, ca: certs.ca, proc, dir };
  const admin = adminClient(redis);
  await waitFor(async () => (await admin.ping().catch(() => null)) === "PONG", { message: "the TLS redis-server to answer" });
  await admin.call("ACL", "SETUSER", "sidejob", "on", `>${PASSWORD}`, ...SIDEJOB_ACL(PREFIX));
  admin.disconnect();
  return redis;
}

function adminClient(redis: TlsRedis): Redis {
  const client = new Redis({
    port: redis.port,
    host: "127.0.0.1",
    password: ADMIN,
    tls: { ca: [fs.readFileSync(redis.ca)], servername: "localhost" },
    maxRetriesPerRequest: 1,
    retryStrategy: () => 100,
  });
  client.on("error", () => {});
  return client;
}

let redis: TlsRedis;
test.before(async () => {
  redis = await startTlsRedis();
});
test.after.always(() => {
  redis?.proc.kill("SIGKILL");
  if (redis) fs.rmSync(redis.dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  REDIS_URL: `rediss://127.0.0.1:${redis.port}`,
  REDIS_USERNAME: "sidejob",
  REDIS_PASSWORD: PASSWORD,
  REDIS_TLS_CA: redis.ca,
  REDIS_PREFIX: PREFIX,
  ...extra,
});

test.serial("over TLS as the documented ACL user: a job is submitted, runs in its own process, and its page is served", async (t) => {
  const app = await startApp(t, { redis: { env: env() }, prefix: PREFIX });
  await countRuns(t, app);
  // Nothing was written outside the prefix the ACL allows.
  const admin = adminClient(redis);
  t.teardown(() => admin.disconnect());
  const keys = await admin.keys("*");
  t.true(keys.length > 0);
  t.deepEqual(
    keys.filter((k) => !k.startsWith(`${PREFIX}:`)),
    [],
  );
});

for (const [what, extra, setting] of [
  ["a wrong password", { REDIS_PASSWORD: "not-the-password-at-all" }, /REDIS_USERNAME and REDIS_PASSWORD/],
  ["no password", { REDIS_USERNAME: "", REDIS_PASSWORD: "" }, /set REDIS_PASSWORD/],
  ["a certificate signed by a CA it does not trust", { REDIS_TLS_CA: "" }, /REDIS_TLS_CA/],
  ["the wrong CA", { REDIS_TLS_CA: "other.crt" }, /REDIS_TLS_CA/],
] as const) {
  test.serial(`${what} stops the start at once with a message naming the setting, and never the password`, async (t) => {
    const settings = { ...env(), ...extra };
    if (settings.REDIS_TLS_CA === "other.crt") settings.REDIS_TLS_CA = path.join(redis.dir, "other.crt");
    const config = loadConfig({ ...settings, PATH: process.env.PATH });
    const started = Date.now();
    const err = await t.throwsAsync(createInstance(config, { logger: silentLogger, readyDeadlineMs: 20_000 }), {
      instanceOf: InstanceError,
    });
    t.true(err.cause instanceof RedisRefusedError, err.message);
    t.true(Date.now() - started < 10_000, "refused at once, not after the start's deadline");
    t.regex(err.message, setting);
    t.false(err.message.includes(PASSWORD));
    t.false(err.message.includes("not-the-password-at-all"));
  });
}

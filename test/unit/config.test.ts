import test from "ava";
import path from "node:path";
import { ConfigError, DEFAULTS, jobEnvironment, loadConfig, mayStartLocalRedis, redisTopologySetting } from "../../server/config.ts";
import { loadJobSettings, redisTarget } from "../../jobs/core/settings.ts";
import { describeTarget } from "../../jobs/core/redis.ts";

test("every setting has its documented default", (t) => {
  const config = loadConfig({}, "/srv/app");
  t.like(config, {
    port: 3000,
    host: "127.0.0.1",
    redisUrl: "redis://127.0.0.1:6379",
    redisPrefix: "sidejob",
    typeSettings: { COUNT_STEP_DELAY_MS: 1000, COUNT_MAX_STEPS: 1000 },
    jobLogDir: "/srv/app/var/log/jobs",
    jobHeartbeatMs: 1000,
    jobCancelGraceMs: 5000,
    jobTimeoutMs: 3_600_000,
    jobTtlSucceededS: 86_400,
    jobTtlFailedS: 604_800,
    jobConcurrency: DEFAULTS.JOB_CONCURRENCY,
    jobSlots: DEFAULTS.JOB_SLOTS,
    jobQueueMax: 1000,
  });
});

test("one error names every bad variable and what it accepts", (t) => {
  const err = t.throws(
    () => loadConfig({ PORT: "eighty", COUNT_MAX_STEPS: "0", REDIS_URL: "http://x", REDIS_PREFIX: "a b", JOB_CONCURRENCY: "1.5" }),
    {
      instanceOf: ConfigError,
    },
  );
  t.is(err.problems.length, 5);
  for (const name of ["PORT", "COUNT_MAX_STEPS", "REDIS_URL", "REDIS_PREFIX", "JOB_CONCURRENCY"]) t.regex(err.message, new RegExp(name));
  t.regex(err.message, /whole number from 0 to 65535/);
});

test("a job's environment holds only what a job needs", (t) => {
  const config = loadConfig({ REDIS_URL: "redis://db:6380", COUNT_STEP_DELAY_MS: "5" });
  const env = jobEnvironment(config, { PATH: "/usr/bin", SECRET_TOKEN: "x", NODE_OPTIONS: "--inspect", NODE_EXTRA_CA_CERTS: "/x.pem" });
  t.is(env.PATH, "/usr/bin");
  t.is(env.REDIS_URL, "redis://db:6380");
  t.is(env.COUNT_STEP_DELAY_MS, "5");
  for (const name of ["SECRET_TOKEN", "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS"]) t.false(name in env, name);
});

test("REDIS_CLUSTER_NODES: the seeds of a Redis Cluster, over REDIS_URL; no local redis-server", (t) => {
  const config = loadConfig({ REDIS_URL: "redis://db:6380", REDIS_CLUSTER_NODES: "10.0.0.5:7000, redis-b:7001,[::1]:7002" });
  t.deepEqual(config.redisClusterNodes, [
    { host: "10.0.0.5", port: 7000 },
    { host: "redis-b", port: 7001 },
    { host: "::1", port: 7002 },
  ]);
  t.is(redisTopologySetting(config), "REDIS_CLUSTER_NODES");
  t.false(mayStartLocalRedis(config));
  t.false(mayStartLocalRedis(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.5:7000" })), "not even without REDIS_URL");
  t.like(redisTarget(config), { kind: "cluster", nodes: config.redisClusterNodes! });
  t.is(describeTarget(redisTarget(config)), "the Redis Cluster at REDIS_CLUSTER_NODES=10.0.0.5:7000,redis-b:7001,[::1]:7002");
  t.true(mayStartLocalRedis(loadConfig({})), "with no Redis setting at all, it may");
});

test("REDIS_SENTINELS and REDIS_SENTINEL_NAME: a master found through Sentinel, over REDIS_URL; no local redis-server", (t) => {
  const config = loadConfig({ REDIS_SENTINELS: "s1:26379,s2:26379", REDIS_SENTINEL_NAME: "mymaster", REDIS_SENTINEL_PASSWORD: "pw" });
  t.deepEqual(config.redisSentinel, {
    sentinels: [
      { host: "s1", port: 26379 },
      { host: "s2", port: 26379 },
    ],
    name: "mymaster",
    password: "pw",
  });
  t.is(redisTopologySetting(config), "REDIS_SENTINELS");
  t.false(mayStartLocalRedis(config));
  t.like(redisTarget(config), { kind: "sentinel", name: "mymaster", sentinelPassword: "pw" });
  t.false(describeTarget(redisTarget(config)).includes("pw"), "no password in messages");
});

test("bad Cluster and Sentinel settings: one clear problem each", (t) => {
  const problems = (env: Record<string, string>) => t.throws(() => loadConfig(env), { instanceOf: ConfigError }).problems;
  t.deepEqual(problems({ REDIS_CLUSTER_NODES: "10.0.0.5,10.0.0.6:99999" }), [
    'REDIS_CLUSTER_NODES="10.0.0.5,10.0.0.6:99999": expected a comma-separated list of host:port, such as 10.0.0.5:6379,10.0.0.6:6379 (not host:port: "10.0.0.5", "10.0.0.6:99999")',
  ]);
  t.regex(problems({ REDIS_SENTINELS: " , " })[0]!, /^REDIS_SENTINELS=" , ": expected a comma-separated list of host:port/);
  t.deepEqual(problems({ REDIS_SENTINELS: "s1:26379" }), [
    "REDIS_SENTINEL_NAME: required with REDIS_SENTINELS: the name the sentinels monitor the master under (e.g. mymaster)",
  ]);
  t.deepEqual(problems({ REDIS_CLUSTER_NODES: "a:7000", REDIS_SENTINELS: "s1:26379", REDIS_SENTINEL_NAME: "m" }), [
    "REDIS_CLUSTER_NODES and REDIS_SENTINELS: set one or the other (a Redis Cluster, or a master found through Sentinel), not both",
  ]);
  t.deepEqual(problems({ REDIS_SENTINEL_NAME: "m" }), [
    "REDIS_SENTINEL_NAME and REDIS_SENTINEL_PASSWORD: only used with REDIS_SENTINELS, which is not set",
  ]);
  t.regex(problems({ REDIS_SENTINELS: "s1:26379", REDIS_SENTINEL_NAME: "my master" })[0]!, /^REDIS_SENTINEL_NAME="my master": expected/);
});

test("a job's environment carries the Cluster or Sentinel settings, and the job reads them back the same", (t) => {
  const cluster = loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.5:7000,10.0.0.6:7001" });
  const clusterEnv = jobEnvironment(cluster, {});
  t.is(clusterEnv.REDIS_CLUSTER_NODES, "10.0.0.5:7000,10.0.0.6:7001");
  t.deepEqual(redisTarget(loadJobSettings(clusterEnv)), redisTarget(cluster));

  const sentinel = loadConfig({ REDIS_SENTINELS: "s1:26379", REDIS_SENTINEL_NAME: "mymaster", REDIS_SENTINEL_PASSWORD: "pw" });
  const sentinelEnv = jobEnvironment(sentinel, {});
  t.like(sentinelEnv, { REDIS_SENTINELS: "s1:26379", REDIS_SENTINEL_NAME: "mymaster", REDIS_SENTINEL_PASSWORD: "pw" });
  t.deepEqual(redisTarget(loadJobSettings(sentinelEnv)), redisTarget(sentinel));

  const plain = jobEnvironment(loadConfig({}), {});
  for (const name of ["REDIS_CLUSTER_NODES", "REDIS_SENTINELS", "REDIS_SENTINEL_NAME", "REDIS_SENTINEL_PASSWORD"])
    t.false(name in plain, name);
});

test("logs default to JSON at info, and metrics and the session secret to none", (t) => {
  t.like(loadConfig({}), { logLevel: "info", logFormat: "json", metricsToken: null, sessionSecret: null });
  t.like(loadConfig({ LOG_LEVEL: "debug", LOG_FORMAT: "pretty" }), { logLevel: "debug", logFormat: "pretty" });
});

test("a bad log setting or a short secret is named, and the secret's value is never shown", (t) => {
  const err = t.throws(
    () => loadConfig({ LOG_LEVEL: "loud", LOG_FORMAT: "xml", SESSION_SECRET: "short-secret", METRICS_TOKEN: "has a space in it!" }),
    { instanceOf: ConfigError },
  );
  t.is(err.problems.length, 4);
  t.regex(err.message, /LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent/);
  t.regex(err.message, /LOG_FORMAT="xml": expected json or pretty/);
  t.regex(err.message, /SESSION_SECRET: expected at least 32 characters/);
  t.regex(err.message, /METRICS_TOKEN: expected at least 16 characters/);
  t.notRegex(err.message, /short-secret|has a space/);
});

test("the session secret and the metrics token never reach a job's environment", (t) => {
  const env = { SESSION_SECRET: "a-session-secret-0123456789abcdef0123456789", METRICS_TOKEN: "a-metrics-token-0123456789" };
  const job = jobEnvironment(loadConfig(env), { PATH: "/usr/bin", ...env });
  for (const name of Object.keys(env)) t.false(name in job, name);
});

test("the site's name, tagline and footer: today's words by default, one trimmed line each, \"-\" for no tagline or footer", (t) => {
  t.deepEqual(loadConfig({}).site, { name: DEFAULTS.SITE_NAME, tagline: DEFAULTS.SITE_TAGLINE, footer: DEFAULTS.SITE_FOOTER });
  t.deepEqual(loadConfig({ SITE_NAME: " Tools ", SITE_TAGLINE: "-", SITE_FOOTER: " - " }).site, { name: "Tools", tagline: "", footer: "" });
  const problems = t.throws(() => loadConfig({ SITE_NAME: " ", SITE_TAGLINE: "a\nb", SITE_FOOTER: "x".repeat(301) }), {
    instanceOf: ConfigError,
  }).problems;
  t.is(problems.length, 3);
  t.regex(problems.join("\n"), /SITE_NAME=" ": expected a name/);
  t.regex(problems.join("\n"), /SITE_TAGLINE="a\\nb": expected one line of plain text/);
  t.regex(problems.join("\n"), /SITE_FOOTER=.*: expected at most 300 characters/);
});

test("JOB_SLOTS=0 and JOB_CONCURRENCY_<TYPE>=0 are accepted; a negative JOB_SLOTS is refused", (t) => {
  const config = loadConfig({ JOB_SLOTS: "0", JOB_CONCURRENCY_COUNT: "0" });
  t.is(config.jobSlots, 0);
  t.is(config.jobConcurrencyByType.count, 0);
  t.regex(t.throws(() => loadConfig({ JOB_SLOTS: "-1" }), { instanceOf: ConfigError }).message, /JOB_SLOTS/);
});

test("JOB_TYPES: every type by default; the named ones in the registry's order; an unknown name is refused with the known ones", (t) => {
  t.is(loadConfig({}).offeredTypes, null);
  t.deepEqual(loadConfig({ JOB_TYPES: " csv-check, count ,," }).offeredTypes, ["count", "csv-check"]);
  const problems = t.throws(() => loadConfig({ JOB_TYPES: "primes,counter" }), { instanceOf: ConfigError }).problems;
  t.deepEqual(problems, [
    'JOB_TYPES="primes,counter": no job type named "counter"; expected a comma-separated list of count, primes, csv-check',
  ]);
  t.regex(t.throws(() => loadConfig({ JOB_TYPES: " , " }), { instanceOf: ConfigError }).message, /JOB_TYPES=" , ": no type named/);
});

test("Redis credentials and TLS: read for every topology, TLS on with rediss://, files checked, and passed to a job's runner", (t) => {
  const plain = loadConfig({ REDIS_URL: "redis://10.0.0.5:6379" });
  t.deepEqual(plain.redisAuth, { username: null, password: null, tls: null });
  const tls = loadConfig({
    REDIS_URL: "rediss://redis.internal:6380",
    REDIS_USERNAME: "sidejob",
    REDIS_PASSWORD: "pw-0123456789",
    REDIS_TLS_CA: "package.json",
  });
  t.like(tls.redisAuth, {
    username: "sidejob",
    password: "pw-0123456789",
    tls: { ca: path.resolve("package.json"), cert: null, key: null, servername: null },
  });
  t.like(redisTarget(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.5:7000", REDIS_PASSWORD: "pw-0123456789", REDIS_TLS: "on" })), {
    kind: "cluster",
    auth: { password: "pw-0123456789", tls: { ca: null } },
  });
  const env = jobEnvironment(tls, {});
  t.like(env, { REDIS_USERNAME: "sidejob", REDIS_PASSWORD: "pw-0123456789", REDIS_TLS: "on", REDIS_TLS_CA: path.resolve("package.json") });
  const error = t.throws(() => loadConfig({ REDIS_TLS: "maybe", REDIS_TLS_CA: "x.pem", REDIS_TLS_CERT: "c.pem" }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(error.problems, [
    'REDIS_TLS="maybe": expected on or off',
    "REDIS_TLS_CA: only used with TLS (REDIS_TLS=on, or a rediss:// REDIS_URL), which is off",
    "REDIS_TLS_CERT: only used with TLS (REDIS_TLS=on, or a rediss:// REDIS_URL), which is off",
  ]);
  const missing = t.throws(() => loadConfig({ REDIS_TLS: "on", REDIS_TLS_CA: "no-such-ca.pem" }), { instanceOf: ConfigError });
  t.deepEqual(missing.problems, [`REDIS_TLS_CA="no-such-ca.pem": no readable file at ${path.resolve("no-such-ca.pem")}`]);
});

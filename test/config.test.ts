import test from "ava";
import { ConfigError, DEFAULTS, jobEnvironment, loadConfig } from "../server/config.ts";

test("every setting has its documented default", (t) => {
  const config = loadConfig({}, "/srv/app");
  t.like(config, {
    port: 3000,
    host: "127.0.0.1",
    redisUrl: "redis://127.0.0.1:6379",
    redisPrefix: "sidejob",
    countStepDelayMs: 1000,
    countMaxSteps: 1000,
    jobLogDir: "/srv/app/var/log/jobs",
    jobHeartbeatMs: 2000,
    jobCancelGraceMs: 5000,
    jobTimeoutMs: 3_600_000,
    jobTtlSucceededS: 86_400,
    jobTtlFailedS: 604_800,
    jobConcurrency: DEFAULTS.JOB_CONCURRENCY,
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
  t.regex(err.message, /SESSION_SECRET: expected at least 16 characters/);
  t.regex(err.message, /METRICS_TOKEN: expected at least 16 characters/);
  t.notRegex(err.message, /short-secret|has a space/);
});

test("the session secret and the metrics token never reach a job's environment", (t) => {
  const env = { SESSION_SECRET: "a-session-secret-0123456789", METRICS_TOKEN: "a-metrics-token-0123456789" };
  const job = jobEnvironment(loadConfig(env), { PATH: "/usr/bin", ...env });
  for (const name of Object.keys(env)) t.false(name in job, name);
});

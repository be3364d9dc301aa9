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

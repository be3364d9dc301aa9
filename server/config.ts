// Every setting sidejob reads, parsed once from the environment.
// Nothing else in the project reads process.env: the server calls loadConfig()
// at start, and each job process calls it with the environment the launcher
// gave it (see jobEnvironment()).
import os from "node:os";
import path from "node:path";

export const DEFAULTS = {
  PORT: 3000,
  HOST: "127.0.0.1",
  REDIS_URL: "redis://127.0.0.1:6379",
  REDIS_PREFIX: "sidejob",
  COUNT_STEP_DELAY_MS: 1000,
  COUNT_MAX_STEPS: 1000,
  JOB_LOG_DIR: "./var/log/jobs",
  JOB_HEARTBEAT_MS: 2000,
  JOB_CANCEL_GRACE_MS: 5000,
  JOB_TIMEOUT_MS: 3_600_000,
  JOB_TTL_SUCCEEDED_S: 86_400,
  JOB_TTL_FAILED_S: 604_800,
  JOB_CONCURRENCY: os.availableParallelism(),
  JOB_QUEUE_MAX: 1000,
} as const;

export interface Config {
  port: number;
  host: string;
  redisUrl: string;
  redisPrefix: string;
  countStepDelayMs: number;
  countMaxSteps: number;
  /** Absolute path. */
  jobLogDir: string;
  jobHeartbeatMs: number;
  jobCancelGraceMs: number;
  jobTimeoutMs: number;
  jobTtlSucceededS: number;
  jobTtlFailedS: number;
  jobConcurrency: number;
  jobQueueMax: number;
  nodeEnv: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Parses the environment into a Config, or throws one ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];

  const int = (name: keyof typeof DEFAULTS, min: number, max: number): number => {
    const raw = env[name];
    const fallback = DEFAULTS[name] as number;
    if (raw === undefined || raw === "") return fallback;
    const text = raw.trim();
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };

  const str = (name: keyof typeof DEFAULTS, check: (v: string) => string | undefined): string => {
    const raw = env[name];
    if (raw === undefined || raw === "") return DEFAULTS[name] as string;
    const problem = check(raw);
    if (problem) problems.push(`${name}=${JSON.stringify(raw)}: ${problem}`);
    return raw;
  };

  const config: Config = {
    port: int("PORT", 0, 65535),
    host: str("HOST", (v) => (/^[\w.:[\]-]+$/.test(v) ? undefined : "expected a host name or IP address")),
    redisUrl: str("REDIS_URL", (v) => {
      try {
        const url = new URL(v);
        return ["redis:", "rediss:", "unix:"].includes(url.protocol)
          ? undefined
          : "expected a redis://, rediss:// or unix:// URL";
      } catch {
        return "expected a URL such as redis://127.0.0.1:6379";
      }
    }),
    redisPrefix: str("REDIS_PREFIX", (v) =>
      /^[\w.-]{1,64}$/.test(v) ? undefined : "expected 1 to 64 letters, digits, '.', '_' or '-'",
    ),
    countStepDelayMs: int("COUNT_STEP_DELAY_MS", 0, 3_600_000),
    countMaxSteps: int("COUNT_MAX_STEPS", 1, 1_000_000),
    jobLogDir: path.resolve(cwd, str("JOB_LOG_DIR", () => undefined)),
    jobHeartbeatMs: int("JOB_HEARTBEAT_MS", 50, 600_000),
    jobCancelGraceMs: int("JOB_CANCEL_GRACE_MS", 0, 3_600_000),
    jobTimeoutMs: int("JOB_TIMEOUT_MS", 100, 7 * 86_400_000),
    jobTtlSucceededS: int("JOB_TTL_SUCCEEDED_S", 1, 365 * 86_400),
    jobTtlFailedS: int("JOB_TTL_FAILED_S", 1, 365 * 86_400),
    jobConcurrency: int("JOB_CONCURRENCY", 1, 1024),
    jobQueueMax: int("JOB_QUEUE_MAX", 0, 10_000_000),
    nodeEnv: env.NODE_ENV || "development",
  };

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * The whole environment of a job process: only what a job needs, never the
 * server's own environment (it may hold secrets, and stray variables such as
 * NODE_OPTIONS or NODE_EXTRA_CA_CERTS slow every Node start).
 */
export function jobEnvironment(config: Config, env: Env = process.env): Record<string, string> {
  const out: Record<string, string> = {
    NODE_ENV: config.nodeEnv,
    REDIS_URL: config.redisUrl,
    REDIS_PREFIX: config.redisPrefix,
    COUNT_STEP_DELAY_MS: String(config.countStepDelayMs),
    COUNT_MAX_STEPS: String(config.countMaxSteps),
    JOB_HEARTBEAT_MS: String(config.jobHeartbeatMs),
    JOB_TIMEOUT_MS: String(config.jobTimeoutMs),
    JOB_TTL_SUCCEEDED_S: String(config.jobTtlSucceededS),
    JOB_TTL_FAILED_S: String(config.jobTtlFailedS),
  };
  if (env.PATH) out.PATH = env.PATH;
  return out;
}

// The settings a job process needs, and the reader every setting goes
// through. Both sides use this module: the server's configuration
// (server/config.ts) includes these settings and passes them to each job
// process in its environment (jobEnvironment); the job process reads them
// back with loadJobSettings. Nothing else reads process.env.
import { MAX_PARTITIONS } from "./partitions.ts";

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads settings from an environment, collecting every problem for one ConfigError. */
export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === "" ? undefined : value;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const text = raw.trim();
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  /** check returns a problem, or undefined when the value is good. */
  str(name: string, fallback: string, check: (value: string) => string | undefined = () => undefined): string {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const problem = check(raw);
    if (problem) this.problems.push(`${name}=${JSON.stringify(raw)}: ${problem}`);
    return raw;
  }

  /** Throws one ConfigError naming every bad variable, if there was any. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

export const JOB_DEFAULTS = {
  REDIS_URL: "redis://127.0.0.1:6379",
  REDIS_PREFIX: "sidejob",
  REDIS_PARTITIONS: 1,
  COUNT_STEP_DELAY_MS: 1000,
  COUNT_MAX_STEPS: 1000,
  JOB_HEARTBEAT_MS: 2000,
  JOB_TIMEOUT_MS: 3_600_000,
  JOB_TTL_SUCCEEDED_S: 86_400,
  JOB_TTL_FAILED_S: 604_800,
} as const;

export interface JobSettings {
  redisUrl: string;
  redisPrefix: string;
  /** How many partitions jobs spread over (jobs/partitions.ts): more than one spreads them over a Redis Cluster's shards. */
  redisPartitions: number;
  countStepDelayMs: number;
  countMaxSteps: number;
  jobHeartbeatMs: number;
  jobTimeoutMs: number;
  jobTtlSucceededS: number;
  jobTtlFailedS: number;
  nodeEnv: string;
}

/** The job settings from an environment, through a reader shared with the server's own settings. */
export function readJobSettings(read: EnvReader): JobSettings {
  const d = JOB_DEFAULTS;
  return {
    redisUrl: read.str("REDIS_URL", d.REDIS_URL, (v) => {
      try {
        return ["redis:", "rediss:", "unix:"].includes(new URL(v).protocol) ? undefined : "expected a redis://, rediss:// or unix:// URL";
      } catch {
        return "expected a URL such as redis://127.0.0.1:6379";
      }
    }),
    redisPrefix: read.str("REDIS_PREFIX", d.REDIS_PREFIX, (v) =>
      /^[\w.-]{1,64}$/.test(v) ? undefined : "expected 1 to 64 letters, digits, '.', '_' or '-'",
    ),
    redisPartitions: read.int("REDIS_PARTITIONS", d.REDIS_PARTITIONS, 1, MAX_PARTITIONS),
    countStepDelayMs: read.int("COUNT_STEP_DELAY_MS", d.COUNT_STEP_DELAY_MS, 0, 3_600_000),
    countMaxSteps: read.int("COUNT_MAX_STEPS", d.COUNT_MAX_STEPS, 1, 1_000_000),
    jobHeartbeatMs: read.int("JOB_HEARTBEAT_MS", d.JOB_HEARTBEAT_MS, 50, 600_000),
    jobTimeoutMs: read.int("JOB_TIMEOUT_MS", d.JOB_TIMEOUT_MS, 100, 7 * 86_400_000),
    jobTtlSucceededS: read.int("JOB_TTL_SUCCEEDED_S", d.JOB_TTL_SUCCEEDED_S, 1, 365 * 86_400),
    jobTtlFailedS: read.int("JOB_TTL_FAILED_S", d.JOB_TTL_FAILED_S, 1, 365 * 86_400),
    nodeEnv: read.raw("NODE_ENV") ?? "development",
  };
}

/** A job process's settings, or one ConfigError naming every bad variable. */
export function loadJobSettings(env: Env): JobSettings {
  const read = new EnvReader(env);
  const settings = readJobSettings(read);
  read.done();
  return settings;
}

/**
 * The whole environment of a job process: only what a job needs, never the
 * server's own environment (it may hold secrets, and stray variables such as
 * NODE_OPTIONS or NODE_EXTRA_CA_CERTS slow every Node start).
 */
export function jobEnvironment(settings: JobSettings, env: Env): Record<string, string> {
  const out: Record<string, string> = {
    NODE_ENV: settings.nodeEnv,
    REDIS_URL: settings.redisUrl,
    REDIS_PREFIX: settings.redisPrefix,
    REDIS_PARTITIONS: String(settings.redisPartitions),
    COUNT_STEP_DELAY_MS: String(settings.countStepDelayMs),
    COUNT_MAX_STEPS: String(settings.countMaxSteps),
    JOB_HEARTBEAT_MS: String(settings.jobHeartbeatMs),
    JOB_TIMEOUT_MS: String(settings.jobTimeoutMs),
    JOB_TTL_SUCCEEDED_S: String(settings.jobTtlSucceededS),
    JOB_TTL_FAILED_S: String(settings.jobTtlFailedS),
  };
  if (env.PATH) out.PATH = env.PATH;
  // The runner passes these on to a command job's program (jobs/program.ts).
  if (env.LANG) out.LANG = env.LANG;
  if (env.LC_ALL) out.LC_ALL = env.LC_ALL;
  return out;
}

// The settings a job process needs, and the reader every setting goes
// through. Both sides use this module: the server's configuration
// (server/config.ts) includes these settings and passes them to each job
// process in its environment (jobEnvironment); the job process reads them
// back with loadJobSettings. The settings a job type reads are its own: it
// declares them (TypeSettings, in its declaration), and they are read,
// checked and passed on here with the shared ones, by name; this module
// knows no type.
import fs from "node:fs";
import path from "node:path";
import { CLUSTER_PARTITIONS, MAX_PARTITIONS } from "./partitions.ts";
import { typeFolders } from "./paths.ts";

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

/** The most bytes a size setting may name: 1 TiB for files on a disk (FILE_STORE_DIR), 512 MiB (a Redis value's most) in Redis. */
export const MAX_BYTES = 1024 ** 4;
export const MAX_REDIS_BYTES = 512 * 1024 * 1024;

export const JOB_DEFAULTS = {
  REDIS_URL: "redis://127.0.0.1:6379",
  REDIS_PREFIX: "sidejob",
  REDIS_PARTITIONS: 1,
  JOB_HEARTBEAT_MS: 1000,
  JOB_TIMEOUT_MS: 3_600_000,
  JOB_TTL_SUCCEEDED_S: 86_400,
  JOB_TTL_FAILED_S: 604_800,
  /** The most results one job may keep; a job that would pass it ends failed, reason results-limit. */
  JOB_RESULTS_MAX: 100_000,
  /** The most bytes one job's results may take (their JSON texts), likewise. */
  JOB_RESULTS_MAX_BYTES: 16 * 1024 * 1024,
  JOB_OUTPUT_MAX_BYTES: 20 * 1024 * 1024,
  /** The most bytes of one job's whole log, kept in Redis (with FILE_STORE_DIR: LOG_MAX_BYTES_ON_DISK). */
  JOB_LOG_MAX_BYTES: 4 * 1024 * 1024,
  /** What one job's program may use when its type does not say (docs/job-types.md, "Limits and isolation"); 0: no limit. */
  JOB_MEMORY_MB: 2048,
  JOB_CPU_SECONDS: 0,
  JOB_PROCESSES: 512,
  JOB_FILE_SIZE_MB: 4096,
  JOB_OUTPUT_MB: 4096,
  JOB_OPEN_FILES: 1024,
} as const;

/**
 * What a command job's program may use, and as whom it runs
 * (jobs/runtime/box.ts): the instance's defaults of a type's limits.
 */
export interface BoxSettings {
  jobMemoryMB: number;
  jobCpuSeconds: number;
  jobProcesses: number;
  jobFileSizeMB: number;
  jobOutputMB: number;
  jobOpenFiles: number;
  /** JOB_USER: the user programs run as when the server runs as root (default nobody); null: not set. */
  jobUser: string | null;
  /** BWRAP_PATH: bubblewrap's program (default: bwrap on PATH); null: "none", not used. */
  bwrapPath: string | null;
  /** ISOLATION_UNAVAILABLE: a type that asks for isolation this host cannot give is refused (not run here), or run unconfined. */
  isolationUnavailable: "refuse" | "unconfined";
}

/** JOB_LOG_MAX_BYTES' default with FILE_STORE_DIR, where a log is a file on a disk. */
export const LOG_MAX_BYTES_ON_DISK = 256 * 1024 * 1024;

/**
 * A running job's lease, in heartbeats: each beat (and each progress report)
 * renews it for this many. A host's death is noticed when the lease runs out
 * and the next sweep (every 500 ms) looks: 1.5 to 2.5 beats after the death,
 * plus up to a sweep; at the default 1 s beat, 1.5 s to 3 s.
 * A job may miss one beat (a busy event loop, a short Redis hiccup) and
 * keep its lease.
 */
export const LEASE_BEATS = 2.5;

/** The lease of a running job (ms), from the heartbeat: LEASE_BEATS of them. */
export function leaseMsOf(jobHeartbeatMs: number): number {
  return Math.round(LEASE_BEATS * jobHeartbeatMs);
}

/** A host and port, as REDIS_CLUSTER_NODES and REDIS_SENTINELS list them. */
export interface RedisAddress {
  host: string;
  port: number;
}

/**
 * Where Redis is: one server (REDIS_URL), a Redis Cluster (its seed nodes),
 * or a master found through Sentinel. The Cluster and Sentinel settings take
 * precedence over REDIS_URL.
 */
export type RedisTarget = (
  | { kind: "url"; url: string }
  | { kind: "cluster"; nodes: RedisAddress[] }
  | { kind: "sentinel"; sentinels: RedisAddress[]; name: string; sentinelPassword: string | null }
) & { auth?: RedisAuth };

/**
 * How every connection to Redis authenticates, wherever Redis is (one
 * server, a Cluster's nodes, a master found through Sentinel): REDIS_USERNAME
 * and REDIS_PASSWORD (an ACL user; a password alone is the default user's),
 * and TLS (REDIS_TLS, or rediss:// in REDIS_URL) with the files that
 * REDIS_TLS_CA, REDIS_TLS_CERT and REDIS_TLS_KEY name. null: the URL's own.
 */
export interface RedisAuth {
  username: string | null;
  password: string | null;
  tls: RedisTls | null;
}

export interface RedisTls {
  /** A PEM file of the CAs to trust (else the system's). */
  ca: string | null;
  /** A client certificate and its key (PEM files), for a Redis with tls-auth-clients. */
  cert: string | null;
  key: string | null;
  /** The name the server's certificate must hold (else the host connected to). */
  servername: string | null;
}

/** A whole-number setting a job type declares: read, checked and passed to its job processes as the shared settings are. */
export interface TypeSetting {
  default: number;
  min: number;
  max: number;
}

/** A job type's own settings, by name (the environment variable, e.g. COUNT_STEP_DELAY_MS). */
export type TypeSettings = Readonly<Record<string, TypeSetting>>;

/** What the settings are read for: the job types, each with the settings it declares. */
export type SettingsOf = readonly { settings?: TypeSettings }[];

export interface JobSettings {
  redisUrl: string;
  /** REDIS_CLUSTER_NODES: the seed nodes of a Redis Cluster, or null. */
  redisClusterNodes: RedisAddress[] | null;
  /** REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_SENTINEL_PASSWORD: the sentinels and the master's name, or null. */
  redisSentinel: { sentinels: RedisAddress[]; name: string; password: string | null } | null;
  /** REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS and REDIS_TLS_*: for every topology. */
  redisAuth: RedisAuth;
  redisPrefix: string;
  /** How many partitions jobs spread over (jobs/core/partitions.ts): more than one spreads them over a Redis Cluster's shards. */
  redisPartitions: number;
  /** The values of the settings the job types declare, by name (see TypeSettings). */
  typeSettings: Readonly<Record<string, number>>;
  jobHeartbeatMs: number;
  jobTimeoutMs: number;
  jobTtlSucceededS: number;
  jobTtlFailedS: number;
  /** What one job's results may hold: a count, and bytes (the sum of their JSON texts). */
  jobResultsMax: number;
  jobResultsMaxBytes: number;
  /** JOB_OUTPUT_MAX_BYTES: the most bytes of output files one job may keep (jobs/runtime/output-files.ts). */
  jobOutputMaxBytes: number;
  /** FILE_STORE_DIR: the folder where uploads, output files and whole logs are kept, absolute; null: in Redis (jobs/core/store/file-dir.ts). */
  fileStoreDir: string | null;
  /** JOB_LOG_MAX_BYTES: the most bytes of one job's whole log (then a marker says where it was cut). */
  jobLogMaxBytes: number;
  nodeEnv: string;
  /** JOB_TYPES_DIR: folders of job types declared in job.json (jobs/core/manifest.ts), absolute; [] for none. */
  jobTypesDirs: readonly string[];
  /** What a command job's program may use, and as whom it runs. */
  box: BoxSettings;
}

/** The Redis to connect to: the Cluster or the Sentinel settings when given, else REDIS_URL. */
export function redisTarget(
  settings: Pick<JobSettings, "redisUrl" | "redisClusterNodes" | "redisSentinel"> & Partial<Pick<JobSettings, "redisAuth">>,
): RedisTarget {
  const auth = settings.redisAuth ? { auth: settings.redisAuth } : {};
  if (settings.redisClusterNodes) return { kind: "cluster", nodes: settings.redisClusterNodes, ...auth };
  if (settings.redisSentinel) {
    const { sentinels, name, password } = settings.redisSentinel;
    return { kind: "sentinel", sentinels, name, sentinelPassword: password, ...auth };
  }
  return { kind: "url", url: settings.redisUrl, ...auth };
}

/** host:port, or [ipv6]:port. */
const ADDRESS = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/;

/** A comma-separated list of host:port, or null when the variable is not set. */
function readAddresses(read: EnvReader, name: string): RedisAddress[] | null {
  const raw = read.raw(name);
  if (raw === undefined) return null;
  const entries = raw
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  const addresses: RedisAddress[] = [];
  const bad: string[] = [];
  for (const entry of entries) {
    const match = ADDRESS.exec(entry);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65535) bad.push(JSON.stringify(entry));
    else addresses.push({ host: match[1] ?? match[2]!, port });
  }
  if (entries.length === 0 || bad.length > 0) {
    read.problems.push(
      `${name}=${JSON.stringify(raw)}: expected a comma-separated list of host:port, such as 10.0.0.5:6379,10.0.0.6:6379${bad.length ? ` (not host:port: ${bad.join(", ")})` : ""}`,
    );
    return null;
  }
  return addresses;
}

/** REDIS_CLUSTER_NODES, or REDIS_SENTINELS with REDIS_SENTINEL_NAME: never both. */
function readRedisTopology(read: EnvReader): Pick<JobSettings, "redisClusterNodes" | "redisSentinel"> {
  const nodes = readAddresses(read, "REDIS_CLUSTER_NODES");
  const sentinels = readAddresses(read, "REDIS_SENTINELS");
  const name = read.str("REDIS_SENTINEL_NAME", "", (v) =>
    /^[\w.-]{1,128}$/.test(v) ? undefined : "expected the master's name as the sentinels monitor it (letters, digits, '.', '_' or '-')",
  );
  const password = read.raw("REDIS_SENTINEL_PASSWORD") ?? null;
  const sentinelSet = read.raw("REDIS_SENTINELS") !== undefined;
  if (read.raw("REDIS_CLUSTER_NODES") !== undefined && sentinelSet) {
    read.problems.push(
      "REDIS_CLUSTER_NODES and REDIS_SENTINELS: set one or the other (a Redis Cluster, or a master found through Sentinel), not both",
    );
  }
  if (sentinelSet && !name) {
    read.problems.push(
      "REDIS_SENTINEL_NAME: required with REDIS_SENTINELS: the name the sentinels monitor the master under (e.g. mymaster)",
    );
  }
  if (!sentinelSet && (read.raw("REDIS_SENTINEL_NAME") !== undefined || password !== null)) {
    read.problems.push("REDIS_SENTINEL_NAME and REDIS_SENTINEL_PASSWORD: only used with REDIS_SENTINELS, which is not set");
  }
  return {
    redisClusterNodes: nodes,
    redisSentinel: sentinels && name && !nodes ? { sentinels, name, password } : null,
  };
}

const ON_OFF: Record<string, boolean> = { on: true, true: true, yes: true, "1": true, off: false, false: false, no: false, "0": false };

/** REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS, REDIS_TLS_CA, REDIS_TLS_CERT, REDIS_TLS_KEY, REDIS_TLS_SERVERNAME. */
function readRedisAuth(read: EnvReader, redisUrl: string | undefined): RedisAuth {
  const tlsRaw = read.raw("REDIS_TLS");
  const tlsSetting = tlsRaw === undefined ? undefined : ON_OFF[tlsRaw.trim().toLowerCase()];
  if (tlsRaw !== undefined && tlsSetting === undefined) read.problems.push(`REDIS_TLS=${JSON.stringify(tlsRaw)}: expected on or off`);
  const tlsOn = tlsSetting === true || (redisUrl ?? "").startsWith("rediss:");
  const file = (name: string, raw: string | undefined): string | null => {
    if (raw === undefined) return null;
    if (!tlsOn) {
      read.problems.push(`${name}: only used with TLS (REDIS_TLS=on, or a rediss:// REDIS_URL), which is off`);
      return null;
    }
    const full = path.resolve(raw);
    try {
      fs.accessSync(full, fs.constants.R_OK);
    } catch {
      read.problems.push(`${name}=${JSON.stringify(raw)}: no readable file at ${full}`);
    }
    return full;
  };
  const ca = file("REDIS_TLS_CA", read.raw("REDIS_TLS_CA"));
  const cert = file("REDIS_TLS_CERT", read.raw("REDIS_TLS_CERT"));
  const key = file("REDIS_TLS_KEY", read.raw("REDIS_TLS_KEY"));
  if ((cert === null) !== (key === null) && tlsOn)
    read.problems.push("REDIS_TLS_CERT and REDIS_TLS_KEY: give both (a client certificate and its key) or neither");
  const servername = read.raw("REDIS_TLS_SERVERNAME") ?? null;
  if (servername !== null && !tlsOn)
    read.problems.push("REDIS_TLS_SERVERNAME: only used with TLS (REDIS_TLS=on, or a rediss:// REDIS_URL), which is off");
  return {
    username: read.raw("REDIS_USERNAME") ?? null,
    password: read.raw("REDIS_PASSWORD") ?? null,
    tls: tlsOn ? { ca, cert, key, servername } : null,
  };
}

/** The job settings from an environment, through a reader shared with the server's own settings; types: whose settings to read too. */
export function readJobSettings(read: EnvReader, types: SettingsOf = []): JobSettings {
  const dir = read.str("FILE_STORE_DIR", "", (v) => (v === "" || path.isAbsolute(v) ? undefined : "expected an absolute path"));
  const fileStoreDir = dir === "" ? null : path.resolve(dir);
  const d = JOB_DEFAULTS;
  const topology = readRedisTopology(read);
  return {
    ...topology,
    redisAuth: readRedisAuth(read, read.raw("REDIS_URL")),
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
    // On a Redis Cluster, jobs spread over the shards unless told otherwise.
    redisPartitions: read.int("REDIS_PARTITIONS", topology.redisClusterNodes ? CLUSTER_PARTITIONS : d.REDIS_PARTITIONS, 1, MAX_PARTITIONS),
    typeSettings: Object.fromEntries(
      types.flatMap((t) => Object.entries(t.settings ?? {})).map(([name, s]) => [name, read.int(name, s.default, s.min, s.max)]),
    ),
    jobHeartbeatMs: read.int("JOB_HEARTBEAT_MS", d.JOB_HEARTBEAT_MS, 50, 600_000),
    jobTimeoutMs: read.int("JOB_TIMEOUT_MS", d.JOB_TIMEOUT_MS, 100, 7 * 86_400_000),
    jobTtlSucceededS: read.int("JOB_TTL_SUCCEEDED_S", d.JOB_TTL_SUCCEEDED_S, 1, 365 * 86_400),
    jobTtlFailedS: read.int("JOB_TTL_FAILED_S", d.JOB_TTL_FAILED_S, 1, 365 * 86_400),
    jobResultsMax: read.int("JOB_RESULTS_MAX", d.JOB_RESULTS_MAX, 1, 100_000_000),
    jobResultsMaxBytes: read.int("JOB_RESULTS_MAX_BYTES", d.JOB_RESULTS_MAX_BYTES, 1024, 1024 * 1024 * 1024),
    // In Redis a value holds 512 MiB at most; on a disk, what it has room for.
    jobOutputMaxBytes: read.int("JOB_OUTPUT_MAX_BYTES", d.JOB_OUTPUT_MAX_BYTES, 0, fileStoreDir ? MAX_BYTES : MAX_REDIS_BYTES),
    fileStoreDir,
    jobLogMaxBytes: read.int(
      "JOB_LOG_MAX_BYTES",
      fileStoreDir ? LOG_MAX_BYTES_ON_DISK : d.JOB_LOG_MAX_BYTES,
      1024,
      fileStoreDir ? MAX_BYTES : MAX_REDIS_BYTES,
    ),
    // Production unless told: `npm run dev` (scripts/dev.mjs) sets development.
    nodeEnv: read.raw("NODE_ENV") ?? "production",
    jobTypesDirs: typeFolders(read.raw("JOB_TYPES_DIR"), process.cwd()),
    box: {
      jobMemoryMB: read.int("JOB_MEMORY_MB", d.JOB_MEMORY_MB, 0, 16 * 1024 * 1024),
      jobCpuSeconds: read.int("JOB_CPU_SECONDS", d.JOB_CPU_SECONDS, 0, 30 * 86_400),
      jobProcesses: read.int("JOB_PROCESSES", d.JOB_PROCESSES, 0, 4_194_304),
      jobFileSizeMB: read.int("JOB_FILE_SIZE_MB", d.JOB_FILE_SIZE_MB, 0, 1024 * 1024),
      jobOutputMB: read.int("JOB_OUTPUT_MB", d.JOB_OUTPUT_MB, 0, 1024 * 1024),
      jobOpenFiles: read.int("JOB_OPEN_FILES", d.JOB_OPEN_FILES, 0, 1_048_576),
      jobUser:
        read.raw("JOB_USER") === undefined
          ? null
          : read.str("JOB_USER", "", (v) => (/^[a-z_][a-z0-9_-]{0,31}\$?$|^\d+$/i.test(v) ? undefined : "expected a user name or uid")),
      bwrapPath: ((v) => (v === "none" ? null : v))(
        read.str("BWRAP_PATH", "bwrap", (v) =>
          v === "none" || v === "bwrap" || path.isAbsolute(v) ? undefined : "expected an absolute path, or none",
        ),
      ),
      isolationUnavailable: read.str("ISOLATION_UNAVAILABLE", "refuse", (v) =>
        v === "refuse" || v === "unconfined" ? undefined : "expected refuse or unconfined",
      ) as "refuse" | "unconfined",
    },
  };
}

/** A job process's settings (with those the types declare), or one ConfigError naming every bad variable. */
export function loadJobSettings(env: Env, types: SettingsOf = []): JobSettings {
  const read = new EnvReader(env);
  const settings = readJobSettings(read, types);
  read.done();
  return settings;
}

/** The values of one type's settings: as read at start, or their defaults where they were not read. */
export function settingValues<S extends TypeSettings>(
  declared: S,
  settings: Pick<JobSettings, "typeSettings">,
): { readonly [K in keyof S]: number } {
  return Object.fromEntries(Object.entries(declared).map(([name, s]) => [name, settings.typeSettings[name] ?? s.default])) as {
    [K in keyof S]: number;
  };
}

/**
 * The whole environment of a job process: only what a job needs, never the
 * server's own environment (it may hold secrets, and stray variables such as
 * NODE_OPTIONS or NODE_EXTRA_CA_CERTS slow every Node start).
 */
export function jobEnvironment(settings: JobSettings, env: Env): Record<string, string> {
  const out: Record<string, string> = {
    // A type's own settings first: a shared setting of the same name is never overridden.
    ...Object.fromEntries(Object.entries(settings.typeSettings).map(([name, value]) => [name, String(value)])),
    NODE_ENV: settings.nodeEnv,
    REDIS_URL: settings.redisUrl,
    REDIS_PREFIX: settings.redisPrefix,
    REDIS_PARTITIONS: String(settings.redisPartitions),
    JOB_HEARTBEAT_MS: String(settings.jobHeartbeatMs),
    JOB_TIMEOUT_MS: String(settings.jobTimeoutMs),
    JOB_TTL_SUCCEEDED_S: String(settings.jobTtlSucceededS),
    JOB_TTL_FAILED_S: String(settings.jobTtlFailedS),
    JOB_RESULTS_MAX: String(settings.jobResultsMax),
    JOB_RESULTS_MAX_BYTES: String(settings.jobResultsMaxBytes),
    JOB_OUTPUT_MAX_BYTES: String(settings.jobOutputMaxBytes),
    JOB_LOG_MAX_BYTES: String(settings.jobLogMaxBytes),
    JOB_MEMORY_MB: String(settings.box.jobMemoryMB),
    JOB_CPU_SECONDS: String(settings.box.jobCpuSeconds),
    JOB_PROCESSES: String(settings.box.jobProcesses),
    JOB_FILE_SIZE_MB: String(settings.box.jobFileSizeMB),
    JOB_OUTPUT_MB: String(settings.box.jobOutputMB),
    JOB_OPEN_FILES: String(settings.box.jobOpenFiles),
    ISOLATION_UNAVAILABLE: settings.box.isolationUnavailable,
    BWRAP_PATH: settings.box.bwrapPath ?? "none",
  };
  if (settings.box.jobUser !== null) out.JOB_USER = settings.box.jobUser;
  if (settings.fileStoreDir !== null) out.FILE_STORE_DIR = settings.fileStoreDir;
  if (settings.jobTypesDirs.length > 0) out.JOB_TYPES_DIR = settings.jobTypesDirs.join(":");
  if (settings.redisClusterNodes) out.REDIS_CLUSTER_NODES = formatAddresses(settings.redisClusterNodes);
  if (settings.redisSentinel) {
    out.REDIS_SENTINELS = formatAddresses(settings.redisSentinel.sentinels);
    out.REDIS_SENTINEL_NAME = settings.redisSentinel.name;
    if (settings.redisSentinel.password !== null) out.REDIS_SENTINEL_PASSWORD = settings.redisSentinel.password;
  }
  // The job's own connection authenticates as the server's do (its runner needs them; its program never sees them).
  const { username, password, tls } = settings.redisAuth;
  if (username !== null) out.REDIS_USERNAME = username;
  if (password !== null) out.REDIS_PASSWORD = password;
  if (tls) {
    out.REDIS_TLS = "on";
    if (tls.ca) out.REDIS_TLS_CA = tls.ca;
    if (tls.cert) out.REDIS_TLS_CERT = tls.cert;
    if (tls.key) out.REDIS_TLS_KEY = tls.key;
    if (tls.servername) out.REDIS_TLS_SERVERNAME = tls.servername;
  }
  if (env.PATH) out.PATH = env.PATH;
  // The runner passes these on to a command job's program (jobs/runtime/command-line.ts).
  if (env.LANG) out.LANG = env.LANG;
  if (env.LC_ALL) out.LC_ALL = env.LC_ALL;
  return out;
}

/** Addresses as REDIS_CLUSTER_NODES and REDIS_SENTINELS list them. */
export function formatAddresses(addresses: readonly RedisAddress[]): string {
  return addresses.map(({ host, port }) => `${host.includes(":") ? `[${host}]` : host}:${port}`).join(",");
}

// Every setting the server reads, parsed once from the environment: main.ts
// calls loadConfig() at start. The settings a job process needs are defined
// in jobs/core/settings.ts, with those each job type declares (its
// declaration's `settings`); the job side reads them back from the
// environment the launcher gives it (jobEnvironment()). What each setting
// does: docs/operations.md, "Settings" (test/unit/settings-doc.test.ts keeps
// the two in step).
import fs from "node:fs";
import os from "node:os";
import { badProxyEntries, type JobVisibility, type SignInSettings } from "./identity.ts";
import { JOB_TYPES } from "../jobs/types/index.ts";
import { slurmOptionProblems, slurmPartitionOk, type JobType } from "../jobs/core/job-type.ts";
import { loadTypeFolders } from "../jobs/core/manifest.ts";
import { typeFolders } from "../jobs/core/paths.ts";
import { programProblems } from "../jobs/core/programs.ts";
import { BUILD_DIR, ROOT } from "./paths.ts";
import path from "node:path";
import { checkHostEntry, isLoopbackHost, type AllowedHosts } from "./hosts.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import { EVICTION_CHECKS, type EvictionCheck } from "./redis-eviction.ts";
import { readNotifySettings, readPublicUrl, type NotifySettings } from "./notify/settings.ts";
import {
  ConfigError,
  EnvReader,
  JOB_DEFAULTS,
  MAX_BYTES,
  MAX_REDIS_BYTES,
  jobEnvironment as environmentFor,
  readJobSettings,
  type Env,
  type JobSettings,
} from "../jobs/core/settings.ts";

export { ConfigError };

export const DEFAULTS = {
  ...JOB_DEFAULTS,
  PORT: 3000,
  HOST: "127.0.0.1",
  JOB_LOG_DIR: "./var/log/jobs",
  LOCAL_REDIS_DIR: "./var/redis",
  JOB_CANCEL_GRACE_MS: 5000,
  /** Attempts in all for a job lost to the infrastructure, for a type that does not declare maxAttempts. */
  JOB_MAX_ATTEMPTS: 3,
  /** How long the server waits at start for Redis to answer before it gives up. */
  REDIS_STARTUP_WAIT_MS: 3000,
  JOB_CONCURRENCY: os.availableParallelism(),
  /** An instance's job processes at once, all types together; 0: a web-only instance. */
  JOB_SLOTS: os.availableParallelism(),
  JOB_QUEUE_MAX: 1000,
  /** refuse: a type whose program cannot start here stops the start; skip-type: this instance does not run it. */
  JOB_PROGRAM_CHECK: "refuse",
  REDIS_MEMORY_REFUSE_PERCENT: 90,
  /** What the start does when Redis's maxmemory-policy evicts keys (server/redis-eviction.ts). */
  REDIS_EVICTION_CHECK: "refuse",
  /** 50 MB: what one upload may take in Redis until its job expires (see docs/operations.md, "Uploads"). */
  JOB_UPLOAD_MAX_BYTES: 50 * 1024 * 1024,
  /** An upload with no byte for this long is stopped (server/uploads.ts); one that keeps sending has no deadline. */
  UPLOAD_IDLE_TIMEOUT_MS: 30_000,
  /** A request that is not an upload must arrive whole (its body) within this of its headers (server/http-server.ts). */
  REQUEST_TIMEOUT_MS: 20_000,
  TRUST_PROXY_HOPS: 0,
  JOB_MAX_QUEUED_PER_SUBMITTER: 100,
  JOB_MAX_RUNNING_PER_SUBMITTER: 0,
  /** A day: how long a submit key (Idempotency-Key, a form's token) names its job at most (docs/api.md, "Idempotent submits"). */
  IDEMPOTENCY_TTL_S: 86_400,
  SHOW_JOB_INTERNALS: false,
  /** Jobs the status cache keeps (server/job-cache.ts); 0 turns it off. */
  STATUS_CACHE_MAX_ENTRIES: 10_000,
  /** What those may take, estimated (see docs/architecture.md, "The status cache"); 0 turns it off. */
  STATUS_CACHE_MAX_BYTES: 16 * 1024 * 1024,
  /** What large answers in flight (job pages, ?all=1, a job's JSON) may hold at once, estimated (server/answer-budget.ts). */
  ANSWER_BYTES_IN_FLIGHT: 48 * 1024 * 1024,
  LOG_LEVEL: "info",
  LOG_FORMAT: "json",
  /** The site's name (titles, the header), its one-line tagline ("" for none) and its footer line ("" for none). */
  /** How many Slurm jobs the deployment keeps submitted at once (server/launchers/slurm.ts). */
  SLURM_MAX_SUBMITTED: 100,
  SITE_NAME: "sidejob",
  SITE_TAGLINE: "long work, off the request",
  SITE_FOOTER: "Each job runs as its own process; its progress lives in Redis.",
} as const;

/** The longest SITE_NAME, SITE_TAGLINE and SITE_FOOTER: a line each. */
export const SITE_TEXT_MAX = { SITE_NAME: 60, SITE_TAGLINE: 120, SITE_FOOTER: 300 } as const;

/** The shortest SESSION_SECRET and METRICS_TOKEN accepted: long enough not to be guessed. */
export const SECRET_MIN_LENGTH = 16;

/** Where Slurm types' jobs go (docs/operations.md, "Jobs on a Slurm cluster"). */
export interface SlurmSettings {
  /** SLURM_CONF: slurm.conf for Slurm's commands; null: theirs (their default, or SLURM_CONF as the server got it). */
  conf: string | null;
  /** SLURM_BIN_DIR: the folder of sbatch, squeue, scontrol, scancel; null: found on PATH. */
  binDir: string | null;
  /** SLURM_MAX_SUBMITTED: Slurm jobs the deployment keeps submitted (pending or running) at once. */
  maxSubmitted: number;
  /** SLURM_RUNNER_PATH: the built runner (build/jobs/runner.js) where compute nodes find it (a shared path). */
  runnerPath: string;
  /** SLURM_PARTITION: the partition of a type that names none; null: Slurm's default partition. */
  partition: string | null;
  /** SLURM_OPTIONS: sbatch options every Slurm job gets before its type's own ("--account=lab1"), from the allow-list. */
  options: string[];
}

export interface Config extends JobSettings {
  port: number;
  host: string;
  /** Whether REDIS_URL was set: without it, `npm start` may use a redis-server of its own (server/local-redis.ts). */
  redisUrlGiven: boolean;
  /** Absolute path: where that redis-server keeps its data and socket. */
  localRedisDir: string;
  /** Absolute path. */
  jobLogDir: string;
  jobCancelGraceMs: number;
  /** A type's maxAttempts when it declares none (JOB_MAX_ATTEMPTS). */
  jobMaxAttempts: number;
  /** How long to wait at start for Redis (every connection ready) before giving up. */
  redisStartupWaitMs: number;
  jobConcurrency: number;
  slurm: SlurmSettings;
  /** JOB_SLOTS: this instance's job processes at once, all types together (each type's concurrency applies inside it); 0 runs none. */
  jobSlots: number;
  /** JOB_CONCURRENCY_<TYPE>: a job type's concurrency, over its own declaration; 0: this instance does not run that type. */
  jobConcurrencyByType: Record<string, number>;
  jobQueueMax: number;
  /** New jobs and uploads are refused (503) while Redis' used memory is at least this share of its maxmemory. */
  redisMemoryRefusePercent: number;
  /** REDIS_EVICTION_CHECK: refuse to start on an evicting maxmemory-policy, or only warn. */
  redisEvictionCheck: EvictionCheck;
  /** The largest file one upload may hold; a larger one is refused (413) and nothing is kept. */
  jobUploadMaxBytes: number;
  /** UPLOAD_IDLE_TIMEOUT_MS: an upload that sends no byte for this long is refused (408) and nothing is kept. */
  uploadIdleTimeoutMs: number;
  /** REQUEST_TIMEOUT_MS: the time a request that is not an upload has to send its body. */
  requestTimeoutMs: number;
  /** TRUSTED_USER_HEADER, TRUSTED_EMAIL_HEADER, TRUSTED_NAME_HEADER, TRUSTED_PROXIES: sign-in through the site's proxy (server/identity.ts); null: everyone is anonymous. */
  signIn: SignInSettings | null;
  /** JOB_VISIBILITY: who may open a signed-in person's job ("owner" by default with sign-in). */
  jobVisibility: JobVisibility;
  /** ADMIN_USERS: the signed-in people who are operators (they may open every job). */
  adminUsers: readonly string[];
  /** JOB_MAX_QUEUED_PER_SUBMITTER: the most jobs one submitter may have waiting (a 429 past it); 0: no limit. */
  jobMaxQueuedPerSubmitter: number;
  /** JOB_MAX_RUNNING_PER_SUBMITTER: the most jobs one submitter may have running at once (the others wait); 0: no limit. */
  jobMaxRunningPerSubmitter: number;
  /** TRUST_PROXY_HOPS: how many reverse proxies in front append to X-Forwarded-For (server/forwarded.ts); 0: none. */
  trustProxyHops: number;
  /** How long a submit key's record names its job at most; less when the job expires first. */
  idempotencyTtlS: number;
  /**
   * Show operators' facts on job pages and in the JSON: a failure's recorded
   * detail (the last lines its process wrote), the pid and host. Off until
   * there is an admin login.
   */
  showJobInternals: boolean;
  /** The status cache's bounds; either at 0 turns it off (every page read and poll reads Redis). */
  statusCacheMaxEntries: number;
  statusCacheMaxBytes: number;
  /** What large answers in flight may hold at once; beyond it they wait, then get a 503 (server/answer-budget.ts). */
  answerBytesInFlight: number;
  /** ALLOWED_HOSTS: the Host names answered (see hosts.ts). */
  allowedHosts: AllowedHosts;
  /** LOG_LEVEL: the least severe lines written. */
  logLevel: LogLevel;
  /** LOG_FORMAT: JSON lines, or pretty ones for people. */
  logFormat: LogFormat;
  /** METRICS_TOKEN: GET /metrics answers only with it (Bearer); null: /metrics is off (404). */
  metricsToken: string | null;
  /** SESSION_SECRET: signs cookies (Koa's app.keys); null: a random key per process (no /admin then). */
  sessionSecret: string | null;
  /** ADMIN_PASSWORD or ADMIN_PASSWORD_HASH: how /admin checks a password; null: /admin is off (404). */
  admin: AdminPassword | null;
  /** The deployment's words on every page (plain text, escaped where shown): templates/layout.eta. */
  site: SiteText;
  /** TEMPLATES_DIR, absolute: a folder of templates that replace the built-in ones of the same name; null: none. */
  templatesDir: string | null;
  /** PUBLIC_URL: the site's address as people reach it, for links in messages sent away (server/notify/); null: the address listened on. */
  publicUrl: string | null;
  /** Telling people when a job ends: SMTP_URL, MAIL_FROM, WEBHOOK_SECRET, WEBHOOK_ALLOWED_HOSTS, NOTIFY_* (server/notify/settings.ts). */
  notify: NotifySettings;
  /** JOB_TYPES: the names of the types this deployment offers, in the registry's order; null: every type it has. */
  offeredTypes: readonly string[] | null;
  /**
   * Every job type this deployment knows: the built-in ones (jobs/types/)
   * and those of JOB_TYPES_DIR's folders (job.json), in that order.
   */
  types: readonly JobType[];
  /** Types this instance does not run because their program cannot start here (JOB_PROGRAM_CHECK=skip-type), with why. */
  skippedTypes: readonly { type: string; problems: readonly string[] }[];
}

/** SITE_NAME, SITE_TAGLINE, SITE_FOOTER. */
export interface SiteText {
  name: string;
  /** "": no tagline. */
  tagline: string;
  /** "": no footer line. */
  footer: string;
}

/** The operator's password, as given: plain, or an scrypt hash (see server/admin/auth.ts). */
export type AdminPassword =
  { kind: "plain"; password: string } | { kind: "scrypt"; N: number; r: number; p: number; salt: Buffer; hash: Buffer };

/** The shortest SESSION_SECRET accepted: a secret short enough to guess would let anyone sign a cookie. */
export const SESSION_SECRET_MIN_CHARS = 32;

const BOOLEANS: Record<string, boolean> = { true: true, "1": true, yes: true, on: true, false: false, "0": false, no: false, off: false };

/** How many jobs of a type this instance runs at once: its own limit, within JOB_SLOTS (0: it does not run the type). */
export function slotsOf(config: Pick<Config, "jobSlots" | "jobConcurrencyByType" | "jobConcurrency">, type: JobType): number {
  return Math.min(config.jobSlots, config.jobConcurrencyByType[type.name] ?? type.concurrency ?? config.jobConcurrency);
}

/** The types this instance runs: the offered ones (JOB_TYPES) it has a slot for. */
export function typesRunHere(config: Config): JobType[] {
  const offered = config.offeredTypes;
  return config.types.filter((t) => (!offered || offered.includes(t.name)) && slotsOf(config, t) > 0);
}

/** The setting of one type's concurrency: JOB_CONCURRENCY_COUNT for "count", JOB_CONCURRENCY_CSV_CHECK for "csv-check". */
export function concurrencySetting(type: string): string {
  return `JOB_CONCURRENCY_${type.toUpperCase().replace(/-/g, "_")}`;
}

/** Parses the environment into a Config, or throws one ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const read = new EnvReader(env);
  const d = DEFAULTS;
  const jobTypesDirs = typeFolders(read.raw("JOB_TYPES_DIR"), cwd);
  const folders = loadTypeFolders(
    jobTypesDirs,
    JOB_TYPES.map((t) => t.name),
  );
  for (const problem of folders.problems) read.problems.push(`JOB_TYPES_DIR: ${problem}`);
  const types = [...JOB_TYPES, ...folders.types];
  const config: Config = {
    port: read.int("PORT", d.PORT, 0, 65535),
    host: read.str("HOST", d.HOST, (v) => (/^[\w.:[\]-]+$/.test(v) ? undefined : "expected a host name or IP address")),
    ...readJobSettings(read, types),
    jobTypesDirs,
    redisUrlGiven: read.raw("REDIS_URL") !== undefined,
    localRedisDir: path.resolve(cwd, read.str("LOCAL_REDIS_DIR", d.LOCAL_REDIS_DIR)),
    jobLogDir: path.resolve(cwd, read.str("JOB_LOG_DIR", d.JOB_LOG_DIR)),
    jobCancelGraceMs: read.int("JOB_CANCEL_GRACE_MS", d.JOB_CANCEL_GRACE_MS, 0, 3_600_000),
    jobMaxAttempts: read.int("JOB_MAX_ATTEMPTS", d.JOB_MAX_ATTEMPTS, 1, 100),
    redisStartupWaitMs: read.int("REDIS_STARTUP_WAIT_MS", d.REDIS_STARTUP_WAIT_MS, 100, 600_000),
    jobConcurrency: read.int("JOB_CONCURRENCY", d.JOB_CONCURRENCY, 1, 1024),
    jobSlots: read.int("JOB_SLOTS", d.JOB_SLOTS, 0, 1024),
    jobConcurrencyByType: Object.fromEntries(
      types.flatMap((t) => {
        const name = concurrencySetting(t.name);
        return read.raw(name) === undefined ? [] : [[t.name, read.int(name, 1, 0, 1024)]];
      }),
    ),
    jobQueueMax: read.int("JOB_QUEUE_MAX", d.JOB_QUEUE_MAX, 0, 10_000_000),
    redisMemoryRefusePercent: read.int("REDIS_MEMORY_REFUSE_PERCENT", d.REDIS_MEMORY_REFUSE_PERCENT, 1, 100),
    redisEvictionCheck: read.str("REDIS_EVICTION_CHECK", d.REDIS_EVICTION_CHECK, (v) =>
      (EVICTION_CHECKS as readonly string[]).includes(v) ? undefined : `expected ${EVICTION_CHECKS.join(" or ")}`,
    ) as EvictionCheck,
    // Redis refuses a string over 512 MB; a disk (FILE_STORE_DIR) takes what it has room for.
    jobUploadMaxBytes: read.int(
      "JOB_UPLOAD_MAX_BYTES",
      d.JOB_UPLOAD_MAX_BYTES,
      1,
      (read.raw("FILE_STORE_DIR") ?? "") !== "" ? MAX_BYTES : MAX_REDIS_BYTES,
    ),
    uploadIdleTimeoutMs: read.int("UPLOAD_IDLE_TIMEOUT_MS", d.UPLOAD_IDLE_TIMEOUT_MS, 100, 3_600_000),
    requestTimeoutMs: read.int("REQUEST_TIMEOUT_MS", d.REQUEST_TIMEOUT_MS, 100, 600_000),
    trustProxyHops: read.int("TRUST_PROXY_HOPS", d.TRUST_PROXY_HOPS, 0, 10),
    signIn: null,
    jobVisibility: "link",
    adminUsers: [],
    jobMaxQueuedPerSubmitter: read.int("JOB_MAX_QUEUED_PER_SUBMITTER", d.JOB_MAX_QUEUED_PER_SUBMITTER, 0, 1_000_000),
    jobMaxRunningPerSubmitter: read.int("JOB_MAX_RUNNING_PER_SUBMITTER", d.JOB_MAX_RUNNING_PER_SUBMITTER, 0, 1_000_000),
    idempotencyTtlS: read.int("IDEMPOTENCY_TTL_S", d.IDEMPOTENCY_TTL_S, 60, 365 * 86_400),
    showJobInternals:
      BOOLEANS[
        read
          .str("SHOW_JOB_INTERNALS", String(d.SHOW_JOB_INTERNALS), (v) =>
            v.trim().toLowerCase() in BOOLEANS ? undefined : "expected true or false",
          )
          .trim()
          .toLowerCase()
      ] ?? d.SHOW_JOB_INTERNALS,
    statusCacheMaxEntries: read.int("STATUS_CACHE_MAX_ENTRIES", d.STATUS_CACHE_MAX_ENTRIES, 0, 10_000_000),
    statusCacheMaxBytes: read.int("STATUS_CACHE_MAX_BYTES", d.STATUS_CACHE_MAX_BYTES, 0, 64 * 1024 * 1024 * 1024),
    answerBytesInFlight: read.int("ANSWER_BYTES_IN_FLIGHT", d.ANSWER_BYTES_IN_FLIGHT, 1024 * 1024, 64 * 1024 * 1024 * 1024),
    allowedHosts: "loopback",
    logLevel: read.str("LOG_LEVEL", d.LOG_LEVEL, (v) =>
      (LOG_LEVELS as readonly string[]).includes(v) ? undefined : `expected one of ${LOG_LEVELS.join(", ")}`,
    ) as LogLevel,
    logFormat: read.str("LOG_FORMAT", d.LOG_FORMAT, (v) =>
      (LOG_FORMATS as readonly string[]).includes(v) ? undefined : `expected ${LOG_FORMATS.join(" or ")}`,
    ) as LogFormat,
    metricsToken: readSecret(read, "METRICS_TOKEN", SECRET_MIN_LENGTH),
    sessionSecret: readSecret(read, "SESSION_SECRET", SESSION_SECRET_MIN_CHARS),
    admin: null,
    site: {
      name: readSiteText(read, "SITE_NAME", false),
      tagline: readSiteText(read, "SITE_TAGLINE", true),
      footer: readSiteText(read, "SITE_FOOTER", true),
    },
    templatesDir: readFolder(read, "TEMPLATES_DIR", cwd),
    publicUrl: readPublicUrl(read),
    notify: readNotifySettings(read),
    offeredTypes: readOfferedTypes(read, types),
    types,
    skippedTypes: [],
    slurm: readSlurmSettings(read, types, cwd),
  };
  config.allowedHosts = readAllowedHosts(read, config.host);
  readSignIn(read, config);
  config.admin = readAdminPassword(read, config.sessionSecret);
  // The programs of the types this instance runs must start here: a missing
  // interpreter stops the start (or, with JOB_PROGRAM_CHECK=skip-type, takes
  // the type off this instance), rather than failing every job of its type.
  const check = read.str("JOB_PROGRAM_CHECK", d.JOB_PROGRAM_CHECK, (v) =>
    v === "refuse" || v === "skip-type" ? undefined : "expected refuse or skip-type",
  );
  if (read.problems.length === 0) {
    for (const type of typesRunHere(config)) {
      const problems = programProblems([type], env.PATH, () => ROOT).map((p) => (type.dir ? `JOB_TYPES_DIR: ${p}` : p));
      if (problems.length === 0) continue;
      if (check === "skip-type") {
        config.jobConcurrencyByType = { ...config.jobConcurrencyByType, [type.name]: 0 };
        config.skippedTypes = [...config.skippedTypes, { type: type.name, problems }];
      } else read.problems.push(...problems);
    }
  }
  read.done();
  return config;
}

/**
 * One line of the site's own text: plain text (shown escaped), no control
 * characters, at most its length; trimmed. An empty variable is an unset one
 * (the default), so "-" says "none" where none is allowed (a tagline, a footer).
 */
function readSiteText(read: EnvReader, name: keyof typeof SITE_TEXT_MAX, mayBeEmpty: boolean): string {
  const max = SITE_TEXT_MAX[name];
  const text = read
    .str(name, DEFAULTS[name], (v) =>
      // eslint-disable-next-line no-control-regex
      /[\u0000-\u001f\u007f]/.test(v)
        ? "expected one line of plain text (no control characters)"
        : v.trim().length > max
          ? `expected at most ${max} characters`
          : !mayBeEmpty && (v.trim() === "" || v.trim() === "-")
            ? "expected a name"
            : undefined,
    )
    .trim();
  return mayBeEmpty && text === "-" ? "" : text;
}

/** A folder that must exist at start, absolute (relative to cwd); null when unset. */
function readFolder(read: EnvReader, name: string, cwd: string): string | null {
  const raw = read.raw(name);
  if (raw === undefined) return null;
  const folder = path.resolve(cwd, raw);
  read.str(name, "", () => (fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory() ? undefined : `no folder at ${folder}`));
  return folder;
}

/**
 * JOB_TYPES: the types offered, comma-separated; unset, every registered
 * type. A name the registry does not hold is refused with the names it does
 * (a typo would otherwise take a type off the site without a word). Kept in
 * the registry's order, so the counter's form stays first where it is offered.
 */
function readOfferedTypes(read: EnvReader, types: readonly JobType[]): readonly string[] | null {
  const raw = read.raw("JOB_TYPES");
  if (raw === undefined) return null;
  const known = types.map((t) => t.name);
  const names = raw
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !known.includes(n));
  if (names.length === 0 || unknown.length > 0) {
    const what = unknown.length ? `no job type named ${unknown.map((n) => JSON.stringify(n)).join(", ")}` : "no type named";
    read.problems.push(`JOB_TYPES=${JSON.stringify(raw)}: ${what}; expected a comma-separated list of ${known.join(", ")}`);
    return null;
  }
  return known.filter((n) => names.includes(n));
}

/** A secret setting, or null when unset. Its value never appears in an error. */
function readSecret(read: EnvReader, name: string, minLength: number): string | null {
  const raw = read.raw(name);
  if (raw === undefined) return null;
  if (raw.length < minLength || /\s/.test(raw)) {
    read.problems.push(`${name}: expected at least ${minLength} characters without spaces (for example: openssl rand -hex 32)`);
  }
  return raw;
}

/**
 * ALLOWED_HOSTS: "*", or a comma-separated list of host[:port]. Without it, a
 * server bound to a loopback address answers its loopback names; one bound
 * to any other address refuses to start (which names clients use is not
 * something it can guess, and answering any name would let DNS rebinding in).
 */
function readAllowedHosts(read: EnvReader, host: string): AllowedHosts {
  const raw = read.raw("ALLOWED_HOSTS");
  if (raw === undefined) {
    if (isLoopbackHost(host)) return "loopback";
    read.problems.push(
      `ALLOWED_HOSTS: required when HOST=${host} is not a loopback address: list the host names clients use (jobs.example.com,10.0.0.5:3000), or * to answer any`,
    );
    return "loopback";
  }
  if (raw.trim() === "*") return "*";
  const entries = raw
    .split(",")
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  const problems = entries.map(checkHostEntry).filter(Boolean);
  if (entries.length === 0 || problems.length > 0) {
    read.problems.push(
      `ALLOWED_HOSTS=${JSON.stringify(raw)}: expected * or a comma-separated list of host[:port]${problems.length ? ` (${problems.join("; ")})` : ""}`,
    );
  }
  return entries;
}

/** A header's name as a setting gives it: lower case, letters, digits and dashes. */
const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/;

/**
 * Sign-in through a trusted proxy (server/identity.ts): TRUSTED_USER_HEADER
 * with TRUSTED_PROXIES (required with it: a header believed from anywhere
 * would let anyone be anyone), the optional email and name headers,
 * JOB_VISIBILITY and ADMIN_USERS.
 */
function readSignIn(read: EnvReader, config: Config): void {
  const check = (v: string) => (v === "" || HEADER_NAME.test(v) ? undefined : "expected a header name, such as X-Forwarded-User");
  const header = (value: string): string | null => (value === "" ? null : value.toLowerCase());
  const userHeader = header(read.str("TRUSTED_USER_HEADER", "", check));
  const emailHeader = header(read.str("TRUSTED_EMAIL_HEADER", "", check));
  const nameHeader = header(read.str("TRUSTED_NAME_HEADER", "", check));
  const proxies = (read.raw("TRUSTED_PROXIES") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  const bad = badProxyEntries(proxies);
  if (bad.length > 0)
    read.problems.push(`TRUSTED_PROXIES: ${bad.join(", ")}: expected addresses or CIDR ranges, such as 127.0.0.1 or 10.0.0.0/8`);
  if (userHeader === null) {
    if (emailHeader || nameHeader || proxies.length > 0)
      read.problems.push("TRUSTED_USER_HEADER: required with TRUSTED_EMAIL_HEADER, TRUSTED_NAME_HEADER or TRUSTED_PROXIES");
  } else if (proxies.length === 0) {
    read.problems.push(
      "TRUSTED_PROXIES: required with TRUSTED_USER_HEADER: the addresses of the proxies whose header is believed (a header believed from anywhere lets anyone sign in as anyone)",
    );
  }
  config.signIn = userHeader === null ? null : { userHeader, emailHeader, nameHeader, proxies };
  config.jobVisibility = read.str("JOB_VISIBILITY", config.signIn ? "owner" : "link", (v) =>
    v === "owner" || v === "link" ? undefined : "expected owner or link",
  ) as JobVisibility;
  config.adminUsers = (read.raw("ADMIN_USERS") ?? "")
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u !== "");
  if (config.adminUsers.length > 0 && !config.signIn)
    read.problems.push("ADMIN_USERS: names signed-in people: set TRUSTED_USER_HEADER too");
}

/** The setting that names a Redis Cluster or Sentinel, when one is set: it takes precedence over REDIS_URL. */
export function redisTopologySetting(config: Config): "REDIS_CLUSTER_NODES" | "REDIS_SENTINELS" | null {
  return config.redisClusterNodes ? "REDIS_CLUSTER_NODES" : config.redisSentinel ? "REDIS_SENTINELS" : null;
}

/** Whether `npm start` may use a redis-server of its own (server/local-redis.ts): only when no Redis setting is given at all. */
export function mayStartLocalRedis(config: Config): boolean {
  return !config.redisUrlGiven && redisTopologySetting(config) === null;
}

const HASH_FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/**
 * ADMIN_PASSWORD (plain) or ADMIN_PASSWORD_HASH ("scrypt$N$r$p$salt$hash",
 * salt and hash in base64): at most one of them, and only with a
 * SESSION_SECRET to sign the operator's session cookie.
 */
function readAdminPassword(read: EnvReader, secret: string | null): AdminPassword | null {
  const plain = read.raw("ADMIN_PASSWORD");
  const hashed = read.raw("ADMIN_PASSWORD_HASH");
  if (plain === undefined && hashed === undefined) return null;
  if (plain !== undefined && hashed !== undefined) {
    read.problems.push("ADMIN_PASSWORD and ADMIN_PASSWORD_HASH: set one of them, not both");
    return null;
  }
  if (secret === null) {
    read.problems.push(
      `SESSION_SECRET: required when ${plain !== undefined ? "ADMIN_PASSWORD" : "ADMIN_PASSWORD_HASH"} is set (it signs the operator's session cookie); make one with: node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))'`,
    );
  }
  if (plain !== undefined) {
    if (plain.length < 8) read.problems.push("ADMIN_PASSWORD: expected at least 8 characters");
    return { kind: "plain", password: plain };
  }
  const m = HASH_FORMAT.exec(hashed!.trim());
  const [N, r, p] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  const salt = m ? Buffer.from(m[4]!, "base64") : Buffer.alloc(0);
  const hash = m ? Buffer.from(m[5]!, "base64") : Buffer.alloc(0);
  // N a power of two above 1; r*p bounded as node's scrypt bounds them; a hash of 16 bytes or more.
  const good =
    m && N > 1 && (N & (N - 1)) === 0 && N <= 2 ** 20 && r >= 1 && r <= 64 && p >= 1 && p <= 16 && salt.length >= 8 && hash.length >= 16;
  if (!good) {
    read.problems.push(
      'ADMIN_PASSWORD_HASH: expected scrypt$N$r$p$salt$hash (salt and hash in base64, N a power of two); see docs/operations.md, "Operators: /admin", for the command that makes one',
    );
    return null;
  }
  return { kind: "scrypt", N, r, p, salt, hash };
}

/** The whole environment of a job process (see jobs/core/settings.ts). */
export function jobEnvironment(config: Config, env: Env = process.env): Record<string, string> {
  return environmentFor(config, env);
}

/**
 * The Slurm settings. A Slurm type is refused at start unless its runner is
 * where SLURM_RUNNER_PATH says (the compute nodes read the same shared path).
 */
function readSlurmSettings(read: EnvReader, types: readonly JobType[], cwd: string): SlurmSettings {
  const absolute = (v: string) => (path.isAbsolute(v) ? undefined : "expected an absolute path");
  const conf = read.str("SLURM_CONF", "", (v) => (v === "" ? undefined : absolute(v)));
  const binDir = read.str("SLURM_BIN_DIR", "", (v) => (v === "" ? undefined : absolute(v)));
  const runnerPath = path.resolve(cwd, read.str("SLURM_RUNNER_PATH", path.join(BUILD_DIR, "jobs", "runner.js")));
  const slurmTypes = types.filter((t) => t.runOn === "slurm").map((t) => t.name);
  if (slurmTypes.length > 0 && !fs.existsSync(runnerPath))
    read.problems.push(
      `SLURM_RUNNER_PATH: no runner at ${runnerPath}, which the Slurm type(s) ${slurmTypes.join(", ")} need (npm run build makes build/jobs/runner.js)`,
    );
  const partition = read.str("SLURM_PARTITION", "", (v) =>
    v === "" || slurmPartitionOk(v) ? undefined : "expected a partition's name (letters, digits, _ . -)",
  );
  const options = read.str("SLURM_OPTIONS", "", (v) => {
    const problems = slurmOptionProblems(v.split(/\s+/).filter(Boolean), "SLURM_OPTIONS");
    return problems.length > 0 ? problems.join("; ") : undefined;
  });
  return {
    conf: conf === "" ? null : conf,
    binDir: binDir === "" ? null : binDir,
    maxSubmitted: read.int("SLURM_MAX_SUBMITTED", DEFAULTS.SLURM_MAX_SUBMITTED, 1, 100_000),
    runnerPath,
    partition: partition === "" ? null : partition,
    options: options.split(/\s+/).filter(Boolean),
  };
}

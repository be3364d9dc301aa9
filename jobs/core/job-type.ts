// What a job type declares. Each type is one module under jobs/types/, listed
// in jobs/types/index.ts; nothing else in the code names a particular type.
// The server builds the type's form, validates its input (form and JSON),
// documents it in the API, and runs it from this declaration; the pages show
// it through generic templates with the type's own wording.
import type { Field, Params } from "./fields.ts";
import type { JobSettings, TypeSettings } from "./settings.ts";
import { RETRYABLE_REASONS, type RetryableReason } from "./store/record.ts";

/**
 * How a job of this type runs.
 * - node: a module under jobs/types/ that calls runJob() from jobs/runtime/kit.ts.
 *   The build bundles it and makes a V8 startup snapshot of it: the fastest start.
 * - command: any executable, as an argv array, run under the runner
 *   (jobs/runtime/runner.ts), which holds the lease, heartbeat, cancel and time limit
 *   and speaks the fd 3 protocol with it. Never through a shell. argv[0] is
 *   looked up on PATH; an element starting with "./" is a file next to the
 *   type's module (jobs/types/); an element that is exactly "{name}" is
 *   replaced by that parameter's validated value.
 */
export type RunSpec = { node: string } | { command: readonly string[] };

export interface JobTypeLimits {
  /** The time limit of one job. Default: JOB_TIMEOUT_MS. */
  timeoutMs?: number;
  /** How many jobs of this type one instance runs at once. Default: JOB_CONCURRENCY. */
  concurrency?: number;
  /** How long a finished job is kept. Defaults: JOB_TTL_SUCCEEDED_S, JOB_TTL_FAILED_S. */
  ttlSucceededS?: number;
  ttlFailedS?: number;
  /**
   * Attempts in all for a job lost to the infrastructure: its host died or
   * its process stopped reporting ('lost'), it never started
   * ('never-started'). Each such loss sends it back to the queue until it has
   * had this many. 1: never retried. Default: JOB_MAX_ATTEMPTS (3).
   */
  maxAttempts?: number;
  /**
   * The other end reasons that are retried, within maxAttempts: a program's
   * own failures are not, unless listed here (["exit-code"]). A cancelled
   * job never is.
   */
  retryOn?: readonly RetryableReason[];
  /** The wait before a job's second attempt (ms), doubled for each one after. Default: RETRY_BACKOFF_MS. */
  retryBackoffMs?: number;
}

/**
 * What one job's program may use, enforced by the kernel on the program and
 * everything it starts (jobs/runtime/box.ts; docs/job-types.md, "Limits and
 * isolation"). Each unset limit is the instance's setting (JOB_MEMORY_MB, …);
 * 0 in a setting: no limit.
 */
export interface BoxLimits {
  /** Memory of the whole job (MiB): a cgroup where the host has one, else each process's address space. */
  memoryMB?: number;
  /** CPU time (s) of each of its processes (RLIMIT_CPU). */
  cpuSeconds?: number;
  /** Processes and threads at once, of the whole job (a pids cgroup, else RLIMIT_NPROC). */
  processes?: number;
  /** The largest file it may write (MiB, RLIMIT_FSIZE). */
  fileSizeMB?: number;
  /** What its output folder may hold (MiB), watched by its runner. */
  outputMB?: number;
  /** Files open at once in each process (RLIMIT_NOFILE). */
  openFiles?: number;
}
export const BOX_LIMIT_NAMES = ["memoryMB", "cpuSeconds", "processes", "fileSizeMB", "outputMB", "openFiles"] as const;

/**
 * What a job's program sees of the host (bubblewrap: jobs/runtime/box.ts).
 * Default for a command type: { network: false, filesystem: "private" }.
 */
export interface Isolation {
  /** false: a network namespace of its own, with only loopback: no address outside it is reachable. */
  network?: boolean;
  /**
   * "private": the system read-only, a /tmp of its own, its working and
   * output folders, its inputs read-only, its type's folder read-only; nothing
   * else (no checkout, no file store, no other job's folder). "host": the
   * host's filesystem, as the job's user may read it.
   */
  filesystem?: "private" | "host";
}
export const DEFAULT_ISOLATION: Required<Isolation> = { network: false, filesystem: "private" };

/** A job that hit its memory or time limit is queued once more with these larger ones (attempt 2). */
export interface Resubmit {
  memoryMB?: number;
  timeoutMs?: number;
}

/** Where a type's jobs run: "local", a process of the instance that claims it (the default); "slurm", a Slurm job. */
export type RunOn = "local" | "slurm";
export const RUN_ON_PLACES = ["local", "slurm"] as const;

/**
 * A Slurm type's options for sbatch (memory and time come from its limits.memoryMB and timeoutMs).
 * options: extra sbatch options, each "--name=value" with a name from SLURM_OPTIONS (never a shell string).
 */
export interface SlurmOptions {
  partition?: string;
  cpus?: number;
  options?: readonly string[];
}

/** The sbatch options a type may add (each as "--name=value"): nothing that changes what runs, where its output goes, or whose it is. */
export const SLURM_OPTIONS = [
  "account",
  "qos",
  "constraint",
  "gres",
  "nodelist",
  "exclude",
  "reservation",
  "nice",
  "comment",
  "licenses",
  "tmp",
  "wckey",
] as const;
const SLURM_OPTION = new RegExp(`^--(${SLURM_OPTIONS.join("|")})=[A-Za-z0-9_.,:=@+/\\[\\]-]{1,200}$`);
const SLURM_PARTITION = /^[A-Za-z0-9_.-]{1,64}$/;

/** Problems of a type's Slurm options ([] when it runs locally or they are good). */
export function slurmProblems(type: Pick<JobType, "runOn" | "slurm" | "run">): string[] {
  const problems: string[] = [];
  if (type.runOn !== undefined && !(RUN_ON_PLACES as readonly string[]).includes(type.runOn))
    problems.push(`runOn must be one of ${RUN_ON_PLACES.join(", ")}`);
  if (type.slurm && type.runOn !== "slurm") problems.push('slurm options apply to a type with runOn: "slurm"');
  if (type.runOn === "slurm" && !("command" in type.run)) problems.push('runOn: "slurm" is for a command type');
  const { partition, cpus, options = [] } = type.slurm ?? {};
  if (partition !== undefined && !slurmPartitionOk(partition)) problems.push(`slurm.partition must match ${SLURM_PARTITION}`);
  if (cpus !== undefined && (!Number.isSafeInteger(cpus) || cpus < 1)) problems.push("slurm.cpus must be a positive whole number");
  problems.push(...slurmOptionProblems(options, "slurm.options"));
  return problems;
}

/** Whether a Slurm partition's name is one sidejob passes to sbatch. */
export function slurmPartitionOk(partition: string): boolean {
  return SLURM_PARTITION.test(partition);
}

/** Problems of sbatch options (a type's slurm.options, SLURM_OPTIONS): each "--name=value" from the allow-list. */
export function slurmOptionProblems(options: readonly string[], what: string): string[] {
  return options
    .filter((option) => !SLURM_OPTION.test(option))
    .map(
      (option) => `${what}: ${JSON.stringify(option)} is not allowed; each is "--name=value" with a name among ${SLURM_OPTIONS.join(", ")}`,
    );
}

/** The wait before a second attempt, when the type does not say (ms): short, so a lost job runs again soon. */
export const RETRY_BACKOFF_MS = 1000;

/** A finished or running job as a type's wording functions see it. */
export interface JobFacts {
  params: Params;
  done: number;
  total: number;
}

/** A running job as its type's estimate sees it: its progress, when it started (this attempt), and the time now, both on Redis' clock (ms). */
export interface RunningFacts extends JobFacts {
  startedAt: number;
  now: number;
}

export interface JobType extends JobTypeLimits {
  /** URL-safe: [a-z][a-z0-9-]*. Stored on each job record. */
  name: string;
  /** What the type does, as a heading: "Count in the background". */
  title: string;
  /** One line under the title. */
  description: string;
  /** The submit button: "Start counting". */
  submitLabel: string;
  fields: readonly Field[];
  run: RunSpec;
  /**
   * The folder (absolute) where run.command's "./" files are: a type from a
   * job.json, its own folder (jobs/core/manifest.ts). Default: jobs/types/.
   */
  dir?: string;
  /**
   * The settings this type reads, by name (the environment variable): whole
   * numbers with a default and bounds. They are read with the shared
   * settings at start (a bad value is refused with them, in one error),
   * passed to its job processes (a command's program gets them in its
   * environment), and found in `settings.typeSettings` by the functions
   * below (settingValues() in jobs/core/settings.ts). Two types never
   * declare the same name.
   */
  settings?: TypeSettings;
  /**
   * Checks across fields (the fields are already valid each on their own);
   * returns a message per field, and the total of the progress bar.
   */
  check?(params: Params, settings: JobSettings): { errors: Record<string, string>; total?: number };
  /** What is counted in progress: ["value", "values"]. */
  unit?: readonly [one: string, many: string];
  /** A title for one job: "Count from 1 to 10". */
  jobTitle(params: Params): string;
  /** A sentence about one job's parameters. */
  jobDescription?(params: Params): string;
  /**
   * Time left, in ms, when the type can tell (the counter knows its step
   * delay); null when it cannot. Without one (or with null), a page that
   * knows the total guesses from the rate so far: (now − startedAt) × (total
   * − done) / done.
   */
  estimateMs?(facts: RunningFacts, settings: JobSettings): number | null;
  /**
   * Results: a template under templates/, given { job, results } (server/job-view.ts:
   * JobView, ResultsView); it shows a summary, includes
   * "/fragments/result-downloads", then the values. Default: a list of values,
   * objects and arrays as pretty-printed JSON (fragments/results-list).
   */
  resultsTemplate?: string;
  /**
   * true: anyone who can see a job sees its log (on its page, as a download,
   * its logUrl in the JSON). By default the log, which holds whatever the
   * program wrote to stdout and stderr (a traceback, the paths of its
   * install), is the operators' only (/admin, or everyone with
   * SHOW_JOB_INTERNALS=true). Set it when the program writes its log for
   * the people who run it.
   */
  publicLog?: boolean;
  /** Words the pages use for this type's jobs, where the generic ones read worse. */
  words?: JobWords;
  /** What one job's program may use (a command type's). */
  limits?: BoxLimits;
  /** What its program sees of the host (a command type's); default DEFAULT_ISOLATION. */
  isolation?: Isolation;
  /** Queued once more with larger limits after memory-limit or timeout. */
  resubmit?: Resubmit;
  /** Where its jobs run: "local" (default) or "slurm" (a command type; docs/operations.md, "Jobs on a Slurm cluster"). */
  runOn?: RunOn;
  /** Its sbatch options, with runOn "slurm". */
  slurm?: SlurmOptions;
  /** A sentence under the form, from the settings: "At most 1,000 values in one count." */
  formNote?(settings: JobSettings): string;
  /**
   * Short addresses of the form, besides /jobs/new/<name>. post: a POST here
   * creates a job as POST /jobs/new/<name> does ("/count"). fill: a
   * bookmarkable GET that fills in the form from its path parameters and
   * query, each named after a field ("/count/:start/:end"); it never starts a job.
   */
  aliases?: { post?: string; fill?: string };
}

export interface JobWords {
  /** One job in a sentence: "the count" (default "the job"). */
  noun?: string;
  /** Said once when a job starts: "Counting has started." (default "The job has started."). */
  started?: string;
  /** What was done to each unit, for "10 values counted" (default: the number alone). */
  done?: string;
}

const NAME = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * The hidden field of every job form that holds its one-time submission
 * token (docs/api.md, "Idempotent submits"): not a parameter, so no type
 * may declare a field of that name.
 */
export const SUBMISSION_FIELD = "submission";

/**
 * Every job form's optional field for an email address to tell when the job
 * ends (server/notify/): not a parameter either, so no type may declare it.
 */
export const NOTIFY_EMAIL_FIELD = "notify_email";

/** Refuses a declaration that would break the pages or the API, at start-up, with a message naming the type. */
export function validateJobType(type: JobType): void {
  const problems: string[] = [];
  if (!NAME.test(type.name)) problems.push(`name ${JSON.stringify(type.name)} must match ${NAME}`);
  const names = new Set<string>();
  for (const f of type.fields) {
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(f.name)) problems.push(`field name ${JSON.stringify(f.name)} must match [a-z][a-z0-9_]*`);
    if (names.has(f.name)) problems.push(`field ${f.name} is declared twice`);
    if (f.name === SUBMISSION_FIELD) problems.push(`field name ${f.name} is the form's submission token's`);
    if (f.name === NOTIFY_EMAIL_FIELD) problems.push(`field name ${f.name} is the form's field for an address to tell when the job ends`);
    names.add(f.name);
  }
  if ("command" in type.run && type.run.command.length === 0) problems.push("run.command is empty");
  if ("command" in type.run) {
    for (const arg of type.run.command) {
      const param = /^\{(.*)\}$/.exec(arg)?.[1];
      if (param !== undefined && !names.has(param)) problems.push(`run.command names {${param}}, which is not a field`);
    }
  }
  for (const [name, s] of Object.entries(type.settings ?? {})) {
    if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(name)) problems.push(`setting ${JSON.stringify(name)} must match [A-Z][A-Z0-9_]*`);
    if (![s.default, s.min, s.max].every(Number.isSafeInteger) || s.min > s.default || s.default > s.max)
      problems.push(`setting ${name}: min, default and max must be whole numbers in that order`);
  }
  for (const [key, value] of Object.entries({
    timeoutMs: type.timeoutMs,
    concurrency: type.concurrency,
    ttlSucceededS: type.ttlSucceededS,
    ttlFailedS: type.ttlFailedS,
    maxAttempts: type.maxAttempts,
  })) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) problems.push(`${key} must be a positive whole number`);
  }
  if (type.retryBackoffMs !== undefined && (!Number.isSafeInteger(type.retryBackoffMs) || type.retryBackoffMs < 0))
    problems.push("retryBackoffMs must be a whole number of ms, 0 or more");
  for (const reason of type.retryOn ?? []) {
    if (!(RETRYABLE_REASONS as readonly string[]).includes(reason))
      problems.push(`retryOn lists ${JSON.stringify(reason)}; it may list ${RETRYABLE_REASONS.join(", ")}`);
  }
  for (const key of BOX_LIMIT_NAMES) {
    const value = type.limits?.[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) problems.push(`limits.${key} must be a positive whole number`);
  }
  for (const [key, value] of Object.entries(type.resubmit ?? {})) {
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`resubmit.${key} must be a positive whole number`);
  }
  if (type.resubmit?.memoryMB !== undefined && type.limits?.memoryMB !== undefined && type.resubmit.memoryMB <= type.limits.memoryMB)
    problems.push("resubmit.memoryMB must be larger than limits.memoryMB");
  if (type.resubmit?.timeoutMs !== undefined && type.timeoutMs !== undefined && type.resubmit.timeoutMs <= type.timeoutMs)
    problems.push("resubmit.timeoutMs must be larger than timeoutMs");
  if ("node" in type.run && (type.limits || type.isolation))
    problems.push("limits and isolation apply to a command's program; a Node type runs in its runner");
  problems.push(...slurmProblems(type));
  if (problems.length > 0) throw new Error(`job type ${type.name}: ${problems.join("; ")}`);
}

/** The end reasons a type's resubmit retries once, as the record's retryOn lists them ('<reason>:once', and the longer limit after a timeout). */
export function resubmitReasons(type: Pick<JobType, "resubmit">): string[] {
  const out: string[] = [];
  if (type.resubmit?.memoryMB !== undefined) out.push("memory-limit:once");
  if (type.resubmit?.timeoutMs !== undefined) out.push(`timeout:once:${type.resubmit.timeoutMs}`);
  return out;
}

/** The time limit of an attempt: a resubmitted one's (attempt 2 on) is the type's resubmit.timeoutMs, when it declares one. */
export function attemptTimeoutMs(type: Pick<JobType, "timeoutMs" | "resubmit"> | undefined, attempt: number, fallback: number): number {
  if (attempt > 1 && type?.resubmit?.timeoutMs !== undefined) return type.resubmit.timeoutMs;
  return type?.timeoutMs ?? fallback;
}

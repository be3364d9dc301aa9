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
  if (problems.length > 0) throw new Error(`job type ${type.name}: ${problems.join("; ")}`);
}

// What the job templates show, derived from a job record and its type's
// declaration: titles, the sentence for the live region, progress, times,
// results, files, the log, and a failure in plain words. The templates only
// print these, and never name a job type: a type's own wording comes from
// its declaration (jobs/types/*.ts), its results from its own template.
// The words themselves are made in job-words.ts (labels, titles, sentences)
// and job-times.ts (times and durations, in the reader's zone: time-zone.ts);
// a job as JSON, in job-json.ts.
import { isTerminal, type JobRecord, type JobState } from "../jobs/core/store.ts";
import { formatNumber } from "../jobs/core/format.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import { checkFields, type Params } from "../jobs/core/fields.ts";
import { EnvReader, readJobSettings, type JobSettings } from "../jobs/core/settings.ts";
import { jobType, JOB_TYPES } from "../jobs/types/index.ts";
import { fileUrl, filledFormUrl, jobUrl, logUrl, newJobUrl, statusUrl } from "./urls.ts";
import {
  announcement,
  attemptEnd,
  attemptText,
  cancelText,
  failureMessage,
  ordinal,
  phaseOf,
  plural,
  progressPhrase,
  safely,
  STATE_LABELS,
  titleOf,
  usageText,
  wording,
  type Phase,
  type Wording,
} from "./job-words.ts";
import {
  elapsed,
  exactAt,
  keptUntil,
  leftAtRate,
  quiet,
  ranFor,
  relativeFuture,
  relativeTime,
  roughDuration,
  roughLeft,
  times,
  type ExactTime,
  type TimeView,
} from "./job-times.ts";
import { UTC } from "./time-zone.ts";

// The names a page's view is made of, importable from the view model too.
export { formatNumber };
export { announcement, failureMessage, jobTitle, ordinal, phaseOf, PHASES, plural, stateLabel, type Phase } from "./job-words.ts";
export { relativeTime, type ExactTime, type TimeView } from "./job-times.ts";

/** Results a job page shows at first; "Show all" shows up to RESULTS_ALL_MAX (downloads have every one). */
export const RESULTS_SHOWN = 100;
export const RESULTS_ALL_MAX = 10_000;
/**
 * And at most this many bytes of them (their JSON texts; the first result
 * always): what one page reads and renders is bounded whatever a job holds.
 * Large answers in flight share ANSWER_BYTES_IN_FLIGHT (answer-budget.ts).
 */
export const RESULTS_SHOWN_BYTES = 512 * 1024;
export const RESULTS_ALL_BYTES = 4 * 1024 * 1024;
/** The log's last lines a page shows. */
export const LOG_LINES_SHOWN = 20;

export interface ViewSettings extends JobSettings {
  showJobInternals: boolean;
  /** JOB_TYPES (null or absent: every type): a job of a type left out keeps its page, with no link to a form that is not offered. */
  offeredTypes?: readonly string[] | null;
  /** Every type the deployment knows (config.types); absent: the built-in ones. */
  types?: readonly JobType[];
}

/**
 * Whether anyone may see a job's log: what its program wrote to stdout and
 * stderr is the operators' unless its type says it is written for everyone
 * (publicLog), or SHOW_JOB_INTERNALS shows operators' facts to everyone.
 */
export function logIsPublic(type: JobType | undefined, settings: { showJobInternals: boolean }): boolean {
  return type?.publicLog === true || settings.showJobInternals;
}

export interface ViewOptions {
  settings?: ViewSettings;
  /** The job's output files (listed for a job that has ended). */
  files?: readonly { name: string; size: number }[];
  /** The page asked for every result (?all=1). */
  all?: boolean;
  types?: readonly JobType[];
  /** Redis' clock now, for the times' words ("3 minutes ago"); by default when the record was read. */
  now?: number;
  /** The reader's time zone, checked (time-zone.ts: readerZone); UTC by default. */
  zone?: string;
}

export interface ResultItem {
  /** A number, a string, true/false, null: shown as text. Anything else: pretty-printed JSON. */
  text: string;
  json: boolean;
}

export interface ResultsView {
  /** The template that shows the values: the type's own, or the default list. */
  template: string;
  /** How many results the job has. */
  count: number;
  /** The values read (the first ones, up to what the page shows), as the job reported them. */
  values: unknown[];
  /** Each value as text; made when a template first reads it, as are table and widthClass. */
  items: ResultItem[];
  /** Every value is a plain number or word: they fit a grid of columns. */
  scalar: boolean;
  /** Every value is an object (a record): a table, its keys as columns in the order first met; else null. */
  table: ResultsTable | null;
  /** The widest value's size class ("w4" … "w23", in characters), so a grid column fits every value unbroken. */
  widthClass: string;
  /** "10 values." (the default template's summary). */
  summary: string;
  /** "Partial: 3 of 10 values, cancelled." for a job that did not succeed (it then stands for the cancel sentence). */
  partial: string | null;
  /** "Show all 1,000 values" when the page shows fewer than there are. */
  more: { url: string; text: string } | null;
  /** The page was asked for all, and there are more than it shows at most. */
  capped: string | null;
  downloads: { label: string; url: string }[];
  /** The one number formatter, for a type's own results template. */
  format: (n: number) => string;
}

export interface JobView {
  id: string;
  url: string;
  state: JobState;
  phase: Phase;
  finished: boolean;
  typeName: string;
  knownType: boolean;
  params: Record<string, unknown>;
  title: string;
  description: string;
  stateLabel: string;
  /** The sentence the live region holds for this phase; it changes only with the phase. */
  announcement: string;
  /** The phase this view shows (and whether it shows the log), carried in the poll URL. */
  pollUrl: string;
  done: number;
  total: number;
  /** "2 of 10 values", or "2 values" while the total is not known. */
  progressText: string;
  /** What the job says it is doing. */
  statusLine: string | null;
  lastValue: string | null;
  queueText: string | null;
  /** A Slurm type's job waiting in the cluster's queue: a sentence with Slurm's reason; else null. */
  clusterText: string | null;
  /** Submitted, Started, Ended: those it has, exact in the reader's zone. */
  times: TimeView[];
  /** An ended job that had started: how long it ran ("3 min 20 s"). */
  ranFor: string | null;
  /** An ended job: when it and all it made are deleted. */
  keptUntil: TimeView | null;
  /** "Running for 40 s", "about 8 s left": words that change every 10 s in its first minute, then once a minute, or with the job. */
  elapsedText: string | null;
  estimateText: string | null;
  /**
   * A running job's last report (progress or heartbeat), the sign that it is
   * alive; quiet once a heartbeat is overdue, with the time it will be given
   * up as lost unless it reports (its lease's end).
   */
  heard: (ExactTime & { quiet: boolean; givenUpAt: ExactTime | null }) | null;
  /** The type's form filled in with this job's parameters; null for a type this site does not run. */
  againUrl: string | null;
  /** The type's empty form (the start page for an unknown type). */
  formUrl: string;
  noun: string;
  cancellable: boolean;
  cancelRequested: boolean;
  cancelText: string | null;
  results: ResultsView | null;
  files: { name: string; url: string; sizeText: string }[];
  log: { lines: string; shown: number; count: number; dropped: number; url: string } | null;
  /**
   * Once the job has been retried: "Attempt 2 of 3", and for each earlier
   * attempt why it ended and when ("Attempt 1 stopped responding …", at
   * 10:04:05 UTC: the page adds "; it was run again."); waiting: when the
   * next attempt may start.
   */
  attempt: { text: string; earlier: { text: string; at: ExactTime }[]; waiting: string | null } | null;
  /** A failure in plain words first (message), then the facts (exit code, signal), then what only operators see. */
  failure: { message: string; facts: string[]; detail: string | null } | null;
  /** Once it has ended, for operators only (SHOW_JOB_INTERNALS, /admin): "Peak memory 123 MB · CPU time 2.3 s"; null when not measured. */
  usage: string | null;
  internals: boolean;
}

let defaults: ViewSettings | null = null;
/** The settings' defaults (a page renders with the server's config; unit tests need none). */
function defaultSettings(): ViewSettings {
  defaults ??= { ...readJobSettings(new EnvReader({})), showJobInternals: false };
  return defaults;
}

/** One value as a page shows it: numbers through the one formatter, objects as pretty-printed JSON. */
export function resultItem(value: unknown): ResultItem {
  if (typeof value === "number") return { text: formatNumber(value), json: false };
  if (typeof value === "string") return { text: value, json: false };
  if (typeof value === "boolean" || value === null) return { text: String(value), json: false };
  return { text: JSON.stringify(value, null, 2) ?? typeof value, json: true };
}

/** A value resultItem shows as plain text, not as JSON. */
const isScalar = (value: unknown): boolean =>
  typeof value === "number" || typeof value === "string" || typeof value === "boolean" || value === null;

/** Results that are records, as a table. */
export interface ResultsTable {
  columns: string[];
  /** One row per value, a cell per column: "" where the value has no such key. */
  rows: { text: string; numeric: boolean }[][];
}

/** The most columns a results table shows; the keys beyond are in the JSON and CSV downloads. */
export const RESULTS_TABLE_COLUMNS = 20;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The keys of records, in the order first met (the same for the page's table and the CSV download). */
function recordColumns(values: readonly Record<string, unknown>[], max = Infinity): string[] {
  const columns = new Set<string>();
  for (const value of values) for (const key of Object.keys(value)) if (columns.size < max) columns.add(key);
  return [...columns];
}

/** Results that are all records, as a table; null for any other results. */
export function resultsTable(values: readonly unknown[]): ResultsTable | null {
  if (values.length === 0 || !values.every(isRecord)) return null;
  const records = values as Record<string, unknown>[];
  const columns = recordColumns(records, RESULTS_TABLE_COLUMNS);
  const cell = (value: unknown) => {
    if (value === undefined) return { text: "", numeric: false };
    const item = resultItem(value);
    return { text: item.json ? JSON.stringify(value) : item.text, numeric: typeof value === "number" };
  };
  return { columns, rows: records.map((record) => columns.map((key) => cell(record[key]))) };
}

/** Column widths the stylesheet has for result values (characters, sign and separators included). */
const VALUE_WIDTHS = [4, 6, 8, 11, 14, 17, 20, 23];

function widthClass(items: ResultItem[]): string {
  const widest = items.reduce((max, v) => Math.max(max, v.text.length), 1);
  return `w${VALUE_WIDTHS.find((w) => w >= widest) ?? VALUE_WIDTHS[VALUE_WIDTHS.length - 1]}`;
}

function formatBytes(size: number): string {
  if (size < 1000) return plural(size, "byte");
  if (size < 1_000_000) return `${formatNumber(Number((size / 1000).toFixed(1)))} kB`;
  return `${formatNumber(Number((size / 1_000_000).toFixed(1)))} MB`;
}

function resultsView(job: JobRecord, type: JobType | undefined, w: Wording, all: boolean): ResultsView | null {
  if (!isTerminal(job.state) || job.resultCount === 0) return null;
  const url = jobUrl(job.id);
  const values = job.results;
  const scalar = values.every(isScalar);
  const shown = values.length;
  const unitWord = type?.unit ? type.unit : (["value", "values"] as const);
  // The values as text (items, table, widthClass) are made when a template first reads them:
  // a type's template that shows the values itself (the CSV check's) does not pay for them.
  let items: ResultItem[] | undefined;
  let table: ResultsTable | null | undefined;
  return {
    template: type?.resultsTemplate ?? "fragments/results-list",
    count: job.resultCount,
    values,
    get items() {
      return (items ??= values.map(resultItem));
    },
    scalar,
    get table() {
      if (table === undefined) table = scalar ? null : resultsTable(values);
      return table;
    },
    get widthClass() {
      return widthClass(scalar ? this.items : []);
    },
    summary: `${plural(job.resultCount, "result")}.`,
    // Said once: the failure message already says how far it got.
    partial:
      job.state === "succeeded"
        ? null
        : job.state === "failed"
          ? "Partial: what it had made before it failed."
          : `Partial: ${progressPhrase(job, w.unit).replace(/^after /, "") || plural(job.done, ...w.unit)}, cancelled.`,
    more:
      shown < job.resultCount && !all
        ? { url: `${url}?all=1#results-title`, text: `Show all ${plural(job.resultCount, ...unitWord)}` }
        : null,
    capped:
      all && shown < job.resultCount
        ? `The page shows the first ${formatNumber(shown)}; the downloads have all ${formatNumber(job.resultCount)}.`
        : null,
    downloads: [
      { label: "CSV", url: `${url}/result.csv` },
      { label: "JSON", url: `${url}/result.json` },
    ],
    format: formatNumber,
  };
}

/** What a running job's page says of the time now: how long it has run, how long is left, whether it has gone quiet. */
interface Clock {
  elapsedText: string | null;
  estimateText: string | null;
  quiet: boolean;
}

function clock(job: JobRecord, type: JobType | undefined, settings: ViewSettings, now: number): Clock {
  if (job.state !== "running" || job.startedAt === null) return { elapsedText: null, estimateText: null, quiet: false };
  return {
    elapsedText: elapsed(now - job.startedAt),
    estimateText: phaseOf(job) === "running" ? estimateText(job, job.startedAt, type, settings, now) : null,
    quiet: quiet(job, now, settings),
  };
}

/**
 * How long a running job has left, in words: its type's own estimate (given
 * when the job started and Redis' clock now), else one from its rate of
 * progress when it reports a total; null when neither can tell.
 */
function estimateText(job: JobRecord, startedAt: number, type: JobType | undefined, settings: ViewSettings, now: number): string | null {
  const facts = { params: job.params as Params, done: job.done, total: job.total, startedAt, now };
  const own = type?.estimateMs ? safely(() => type.estimateMs!(facts, settings), null) : null;
  if (own !== null && Number.isFinite(own)) return own < 1000 ? "almost done" : `about ${roughDuration(own)} left`;
  const left = leftAtRate(job.done, job.total, now - startedAt);
  return left === null ? null : roughLeft(left);
}

/**
 * Every word of a job's page that depends on the time now rather than on the
 * job: the times' "3 minutes ago" and "in 7 days", "Running for 40 s", the
 * time left, and whether a heartbeat is overdue. A rendered answer is reused
 * while these (and the reader's zone: status.ts) stay the same; they come
 * from the same functions as the view's, so the two cannot differ.
 */
export function timeWords(job: JobRecord, now: number, settings: ViewSettings): string {
  const type = jobType(job.type, settings.types ?? JOB_TYPES);
  let words = "";
  for (const ms of [job.createdAt, job.startedAt, job.finishedAt]) if (ms !== null) words += `|${relativeTime(now - ms)}`;
  const until = keptUntil(job, type, settings);
  if (until !== null) words += `|${relativeFuture(until - now)}`;
  if (job.state !== "running") return words;
  const c = clock(job, type, settings, now);
  return `${words}|${c.elapsedText ?? ""}|${c.estimateText ?? ""}|${c.quiet ? "q" : ""}`;
}

export function jobView(job: JobRecord, options: ViewOptions = {}): JobView {
  const settings = options.settings ?? defaultSettings();
  const now = options.now ?? job.readAt;
  const zone = options.zone ?? UTC;
  const type = jobType(job.type, options.types ?? settings.types ?? JOB_TYPES);
  const w = wording(type);
  const phase = phaseOf(job);
  const finished = isTerminal(job.state);
  const url = jobUrl(job.id);
  const internals = settings.showJobInternals;
  const params = job.params as Params;
  const offered = type !== undefined && (!settings.offeredTypes || settings.offeredTypes.includes(type.name));

  const failure =
    job.state === "failed"
      ? (() => {
          const facts: string[] = [];
          if (job.exitCode !== null) facts.push(`Exit code: ${job.exitCode}`);
          if (job.signal) facts.push(`Signal: ${job.signal}`);
          if (internals && job.pid !== null) facts.push(`Process: ${job.pid}${job.host ? ` on ${job.host}` : ""}`);
          return { message: failureMessage(job, w.noun, w.unit), facts, detail: internals ? job.detail : null };
        })()
      : null;

  // Parameters that no longer fit the type's fields (an older record) get the type's own wording.
  const fits = type !== undefined && checkFields(type.fields, params, { fillDefaults: false }).ok;
  const description = type
    ? fits
      ? safely(() => type.jobDescription?.(params) ?? type.description, type.description)
      : type.description
    : `This job's type (${job.type}) is not one this site runs.`;
  const running = job.state === "running" && job.startedAt !== null;
  const { elapsedText, estimateText, quiet } = clock(job, type, settings, now);
  const until = keptUntil(job, type, settings);
  const { times: shown, keptUntil: kept } = times(job, now, zone, until);
  const last = !finished && job.results.length > 0 ? job.results[job.results.length - 1] : undefined;
  const log =
    job.logCount > 0 && logIsPublic(type, settings)
      ? { lines: job.logTail.join("\n"), shown: job.logTail.length, count: job.logCount, dropped: job.logDropped, url: logUrl(job.id) }
      : null;

  return {
    id: job.id,
    url,
    state: job.state,
    phase,
    finished,
    typeName: job.type,
    knownType: type !== undefined,
    params: job.params,
    title: titleOf(type, params, fits),
    description: /[.!?]$/.test(description) ? description : `${description}.`,
    stateLabel: STATE_LABELS.public[phase],
    announcement: announcement(job, type),
    pollUrl: `${statusUrl(job.id)}?shown=${phase}${log ? "&log=1" : ""}`,
    done: job.done,
    total: job.total,
    progressText: job.total > 0 ? `${formatNumber(job.done)} of ${plural(job.total, ...w.unit)}` : plural(job.done, ...w.unit),
    statusLine: job.status,
    lastValue: last === undefined ? null : resultItem(last).text,
    queueText: job.state === "queued" && job.queuePosition !== null ? `${ordinal(job.queuePosition + 1)} in line` : null,
    clusterText: job.state === "queued" && job.slurm ? clusterQueueText(job.slurm) : null,
    times: shown,
    ranFor: finished && job.startedAt !== null && job.finishedAt !== null ? ranFor(Math.max(0, job.finishedAt - job.startedAt)) : null,
    keptUntil: kept,
    elapsedText,
    estimateText,
    heard:
      running && job.updatedAt !== null
        ? {
            ...exactAt(job.updatedAt, zone),
            quiet,
            givenUpAt: job.leaseExpiresAt === null ? null : exactAt(job.leaseExpiresAt, zone),
          }
        : null,
    // A job whose uploads are still kept (one that failed, or has not ended) offers its files again.
    againUrl: offered
      ? filledFormUrl(type, job.params, job.uploads.length > 0 && (job.state === "failed" || !finished) ? job.id : undefined)
      : null,
    formUrl: offered ? newJobUrl(type.name) : "/",
    noun: w.noun,
    cancellable: !finished,
    cancelRequested: job.cancelRequestedAt !== null,
    cancelText: job.state === "cancelled" ? cancelText(job, w.doneWord, w.unit) : null,
    results: resultsView(job, type, w, options.all === true),
    files: finished
      ? (options.files ?? []).map((f) => ({ name: f.name, url: fileUrl(job.id, f.name), sizeText: formatBytes(f.size) }))
      : [],
    log,
    attempt: attemptView(job, now, zone),
    failure,
    usage: internals && finished && job.usage ? usageText(job.usage) : null,
    internals,
  };
}

function attemptView(job: JobRecord, now: number, zone: string): JobView["attempt"] {
  const text = attemptText(job);
  if (text === null) return null;
  const earlier = job.attempts.map((a) => ({
    text: `Attempt ${formatNumber(a.attempt)} ${attemptEnd(a.reason, a.slurm?.state)}`,
    at: exactAt(a.endedAt, zone),
  }));
  const waiting =
    job.state === "queued" && job.notBefore !== null && job.notBefore > now
      ? `It starts again in about ${roughDuration(job.notBefore - now)}.`
      : null;
  return { text, earlier, waiting };
}

/** Slurm's commonest reasons for a pending job, in words. */
const SLURM_REASONS: Record<string, string> = {
  Resources: "the CPUs or memory it asked for are in use",
  Priority: "jobs ahead of it come first",
  Dependency: "it waits for other jobs",
  PartitionDown: "its partition is down",
  ReqNodeNotAvail: "the nodes it needs are not available",
  QOSMaxJobsPerUserLimit: "its owner has as many jobs running as allowed",
  BeginTime: "it may not start yet",
};

/** "Submitted to the cluster; it waits in the cluster's queue: the CPUs or memory it asked for are in use (Resources)." */
export function clusterQueueText(slurm: NonNullable<JobRecord["slurm"]>): string {
  if (slurm.state !== "PENDING" && slurm.state !== "CONFIGURING")
    return `Submitted to the cluster (Slurm job ${slurm.jobId}); it is starting.`;
  const why = slurm.reason ? `: ${SLURM_REASONS[slurm.reason] ?? "Slurm says why"} (${slurm.reason})` : "";
  return `It waits in the cluster's queue (Slurm job ${slurm.jobId})${why}.`;
}

// What the job templates show, derived from a job record and its type's
// declaration: titles, the sentence for the live region, progress, times,
// results, files, the log, and a failure in plain words. The templates only
// print these, and never name a job type: a type's own wording comes from
// its declaration (jobs/types/*.ts), its results from its own template.
import { isTerminal, JOB_STATES, type JobRecord, type JobState } from "../jobs/core/store.ts";
import { formatDuration, formatNumber } from "../jobs/core/format.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import { checkFields, type Params } from "../jobs/core/fields.ts";
import { EnvReader, readJobSettings, type JobSettings } from "../jobs/core/settings.ts";
import { jobType, JOB_TYPES } from "../jobs/types/index.ts";
import { fileUrl, filledFormUrl, jobUrl, logUrl, newJobUrl, statusUrl } from "./urls.ts";

export { formatNumber };

/** Results a job page shows at first; "Show all" shows up to RESULTS_ALL_MAX (downloads have every one). */
export const RESULTS_SHOWN = 100;
export const RESULTS_ALL_MAX = 10_000;
/** The log's last lines a page shows. */
export const LOG_LINES_SHOWN = 20;

/** What a page shows: the state, or "cancelling" while a requested cancel has not ended the job. */
export const PHASES = [...JOB_STATES, "cancelling"] as const;
export type Phase = (typeof PHASES)[number];

export interface ViewSettings extends JobSettings {
  showJobInternals: boolean;
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
}

export interface TimeView {
  label: string;
  iso: string;
  /** Exact, in UTC; the date only on the first time shown: "2 Jan 2024, 03:04:05 UTC", then "03:04:06 UTC". */
  exact: string;
  /** "2 minutes ago". */
  relative: string;
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
  items: ResultItem[];
  /** Every value is a plain number or word: they fit a grid of columns. */
  scalar: boolean;
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
  times: TimeView[];
  /** "Running for 3 minutes", "about 8 s left": words that change at most once a minute, or with the job. */
  elapsedText: string | null;
  estimateText: string | null;
  /**
   * A running job's last report (progress or heartbeat), the sign that it is
   * alive; quiet once a heartbeat is overdue, with the time it will be given
   * up as lost unless it reports (its lease's end).
   */
  heard: { iso: string; exact: string; quiet: boolean; givenUpAt: string | null } | null;
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
  /** A failure in plain words first (message), then the facts (exit code, signal), then what only operators see. */
  failure: { message: string; facts: string[]; detail: string | null } | null;
  internals: boolean;
}

const STATE_LABELS: Record<Phase, string> = {
  queued: "Waiting to start",
  running: "Running",
  cancelling: "Stopping",
  succeeded: "Finished",
  failed: "Failed",
  cancelled: "Cancelled",
};

const DEFAULT_UNIT = ["step", "steps"] as const;

let defaults: ViewSettings | null = null;
/** The settings' defaults (a page renders with the server's config; unit tests need none). */
function defaultSettings(): ViewSettings {
  defaults ??= { ...readJobSettings(new EnvReader({})), showJobInternals: false };
  return defaults;
}

export function ordinal(n: number): string {
  const rem100 = n % 100;
  const suffix = rem100 >= 11 && rem100 <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${formatNumber(n)}${suffix}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

/** A job's title as its pages show it ("Count from 1 to 10"), from its type and parameters. */
export function jobTitle(typeName: string, params: Params): string {
  const type = jobType(typeName);
  if (!type) return "A job of an unknown type";
  return checkFields(type.fields, params).ok ? safely(() => type.jobTitle(params), type.title) : type.title;
}

/** The words for a job's phase: "Waiting to start", "Running", "Stopping", "Finished"... */
export function stateLabel(job: Pick<JobRecord, "state" | "cancelRequestedAt">): string {
  return STATE_LABELS[phaseOf(job)];
}

/** "1 minute", "3 hours", "2 days", or null under 45 s: coarse on purpose, so a poll's answer does not change every second. */
function roughAge(ms: number): string | null {
  const s = ms / 1000;
  if (s < 45) return null;
  const m = Math.max(1, Math.round(s / 60));
  if (m < 60) return `${m} ${m === 1 ? "minute" : "minutes"}`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} ${h === 1 ? "hour" : "hours"}`;
  const d = Math.round(h / 24);
  return `${d} ${d === 1 ? "day" : "days"}`;
}

/** "just now", "1 minute ago", "3 hours ago", "2 days ago". */
export function relativeTime(ms: number): string {
  const age = roughAge(ms);
  return age === null ? "just now" : `${age} ago`;
}

/** "Running for less than a minute", "Running for 3 minutes". */
function elapsed(ms: number): string {
  return `Running for ${roughAge(ms) ?? "less than a minute"}`;
}

/**
 * A heartbeat is overdue: a whole beat late (a beat a little late on a busy
 * machine is no news), one beat before the lease (three) runs out.
 */
function quiet(job: Pick<JobRecord, "updatedAt">, now: number, settings: ViewSettings): boolean {
  return job.updatedAt !== null && now - job.updatedAt > 2 * settings.jobHeartbeatMs;
}

/**
 * Every word of a job's page that depends on the time now rather than on the
 * job: the times' "3 minutes ago", "Running for 3 minutes", and whether a
 * heartbeat is overdue. A rendered answer is reused while these stay the same.
 */
export function timeWords(job: JobRecord, now: number, settings: ViewSettings): string {
  let words = "";
  for (const ms of [job.createdAt, job.startedAt, job.finishedAt]) if (ms !== null) words += `|${roughAge(now - ms)}`;
  return job.state === "running" ? `${words}|${quiet(job, now, settings) ? "q" : ""}` : words;
}

const DATE = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" });
const TIME = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

function exactTime(at: Date): string {
  return `${TIME.format(at)} UTC`;
}

function times(job: JobRecord, now: number): TimeView[] {
  const out: TimeView[] = [];
  let lastDate: string | null = null;
  for (const [label, ms] of [
    ["Submitted", job.createdAt],
    ["Started", job.startedAt],
    ["Ended", job.finishedAt],
  ] as const) {
    if (ms === null) continue;
    const at = new Date(ms);
    const date = DATE.format(at);
    const time = exactTime(at);
    out.push({
      label,
      iso: at.toISOString(),
      exact: date === lastDate ? time : `${date}, ${time}`,
      relative: relativeTime(now - ms),
    });
    lastDate = date;
  }
  return out;
}

/** Whole seconds (at least one) up to two minutes, then whole minutes: "12 s", "16 min", then formatDuration's hours and days (estimates). */
function roughDuration(ms: number): string {
  if (ms < 120_000) return formatDuration(Math.max(1, Math.round(ms / 1000)) * 1000);
  if (ms < 120 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return formatDuration(ms);
}

/** One value as a page shows it: numbers through the one formatter, objects as pretty-printed JSON. */
export function resultItem(value: unknown): ResultItem {
  if (typeof value === "number") return { text: formatNumber(value), json: false };
  if (typeof value === "string") return { text: value, json: false };
  if (typeof value === "boolean" || value === null) return { text: String(value), json: false };
  return { text: JSON.stringify(value, null, 2) ?? typeof value, json: true };
}

/** Column widths the stylesheet has for result values (characters, sign and separators included). */
const VALUE_WIDTHS = [4, 6, 8, 11, 14, 17, 20, 23];

function widthClass(items: ResultItem[]): string {
  const widest = items.reduce((max, v) => Math.max(max, v.text.length), 1);
  return `w${VALUE_WIDTHS.find((w) => w >= widest) ?? VALUE_WIDTHS[VALUE_WIDTHS.length - 1]}`;
}

function progressPhrase(job: Pick<JobRecord, "done" | "total">, unit: readonly [string, string]): string {
  if (job.total > 0) return `after ${formatNumber(job.done)} of ${plural(job.total, ...unit)}`;
  if (job.done > 0) return `after ${plural(job.done, ...unit)}`;
  return "";
}

type FailureFacts = Pick<JobRecord, "type" | "reason" | "error" | "done" | "total" | "timeoutMs">;

/** A failure in plain words, once: the facts (exit code, signal) are listed apart and never repeated here. */
export function failureMessage(job: FailureFacts, noun: string, unit: readonly [string, string]): string {
  const Noun = capitalize(noun);
  const progress = progressPhrase(job, unit);
  const after = progress ? ` ${progress}` : "";
  switch (job.reason) {
    case "lost":
      return `${Noun} stopped responding${after}, so it was given up.`;
    case "never-started":
      return `${Noun} never started, so it was given up.`;
    case "timeout":
      return job.timeoutMs !== null
        ? `${Noun} took longer than its time limit of ${formatDuration(job.timeoutMs)}, so it was stopped${after}.`
        : `${Noun} took too long, so it was stopped${after}.`;
    case "signal":
    case "exit-code":
      return `${Noun} stopped unexpectedly${after}.`;
    case "no-result":
      return `${Noun} ended without saying whether it succeeded${after}.`;
    case "job-error":
      return `${Noun} could not finish: ${job.error ?? "it reported an error"}`;
    case "spawn-failed":
      return `${Noun} could not be started.`;
    case "unknown-type":
      return `This job's type (${job.type}) is not one this site runs, so it was not started.`;
    default:
      return job.error ? `${Noun} did not finish: ${job.error}` : `${Noun} did not finish${progress ? ` (${progress})` : ""}.`;
  }
}

function cancelText(
  job: Pick<JobRecord, "done" | "total" | "startedAt" | "reason">,
  doneWord: string,
  unit: readonly [string, string],
): string {
  if (job.startedAt === null && job.done === 0) return `Cancelled before it started; nothing was ${doneWord}.`;
  const progress = progressPhrase(job, unit);
  const text = progress ? `Cancelled ${progress}.` : "Cancelled.";
  return job.reason === "cancel-killed" ? `${text} It did not stop by itself, so its process was stopped.` : text;
}

/** The phase a page shows for a job. */
export function phaseOf(job: Pick<JobRecord, "state" | "cancelRequestedAt">): Phase {
  return !isTerminal(job.state) && job.cancelRequestedAt !== null ? "cancelling" : job.state;
}

interface Wording {
  noun: string;
  started: string;
  doneWord: string;
  doneSuffix: string;
  unit: readonly [string, string];
}

function wording(type: JobType | undefined): Wording {
  const words = type?.words ?? {};
  return {
    noun: words.noun ?? "the job",
    started: words.started ?? "The job has started.",
    doneWord: words.done ?? "done",
    doneSuffix: words.done ? ` ${words.done}` : "",
    unit: type?.unit ?? DEFAULT_UNIT,
  };
}

export function announcement(job: JobRecord, type: JobType | undefined = jobType(job.type)): string {
  const w = wording(type);
  switch (phaseOf(job)) {
    case "queued":
      return "Waiting to start.";
    case "running":
      return w.started;
    case "cancelling":
      return `Cancel requested; ${w.noun} is stopping.`;
    case "succeeded":
      return job.done > 0 || job.total > 0 ? `Finished: ${plural(job.done, ...w.unit)}${w.doneSuffix}.` : "Finished.";
    case "failed":
      return `Failed: ${lowerFirst(failureMessage(job, w.noun, w.unit))}`;
    case "cancelled":
      return cancelText(job, w.doneWord, w.unit);
  }
}

function safely<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback; // a record whose parameters do not fit its type's wording
  }
}

function formatBytes(size: number): string {
  if (size < 1000) return plural(size, "byte");
  if (size < 1_000_000) return `${formatNumber(Number((size / 1000).toFixed(1)))} kB`;
  return `${formatNumber(Number((size / 1_000_000).toFixed(1)))} MB`;
}

function resultsView(job: JobRecord, type: JobType | undefined, w: Wording, all: boolean): ResultsView | null {
  if (!isTerminal(job.state) || job.resultCount === 0) return null;
  const url = jobUrl(job.id);
  const items = job.results.map(resultItem);
  const scalar = items.every((i) => !i.json);
  const shown = job.results.length;
  const unitWord = type?.unit ? type.unit : (["value", "values"] as const);
  return {
    template: type?.resultsTemplate ?? "fragments/results-list",
    count: job.resultCount,
    values: job.results,
    items,
    scalar,
    widthClass: widthClass(scalar ? items : []),
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

export function jobView(job: JobRecord, options: ViewOptions = {}): JobView {
  const settings = options.settings ?? defaultSettings();
  const now = options.now ?? job.readAt;
  const type = jobType(job.type, options.types ?? JOB_TYPES);
  const w = wording(type);
  const phase = phaseOf(job);
  const finished = isTerminal(job.state);
  const url = jobUrl(job.id);
  const internals = settings.showJobInternals;
  const params = job.params as Params;

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
  const fits = type !== undefined && checkFields(type.fields, params).ok;
  const description = type
    ? fits
      ? safely(() => type.jobDescription?.(params) ?? type.description, type.description)
      : type.description
    : `This job's type (${job.type}) is not one this site runs.`;
  const running = job.state === "running" && job.startedAt !== null;
  const estimate =
    phase === "running" && type?.estimateMs
      ? safely(() => type.estimateMs!({ params, done: job.done, total: job.total }, settings), null)
      : null;
  const last = !finished && job.results.length > 0 ? job.results[job.results.length - 1] : undefined;
  const log =
    job.logCount > 0
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
    title: type ? (fits ? safely(() => type.jobTitle(params), type.title) : type.title) : "A job of an unknown type",
    description: /[.!?]$/.test(description) ? description : `${description}.`,
    stateLabel: STATE_LABELS[phase],
    announcement: announcement(job, type),
    pollUrl: `${statusUrl(job.id)}?shown=${phase}${log ? "&log=1" : ""}`,
    done: job.done,
    total: job.total,
    progressText: job.total > 0 ? `${formatNumber(job.done)} of ${plural(job.total, ...w.unit)}` : plural(job.done, ...w.unit),
    statusLine: job.status,
    lastValue: last === undefined ? null : resultItem(last).text,
    queueText: job.state === "queued" && job.queuePosition !== null ? `${ordinal(job.queuePosition + 1)} in line` : null,
    times: times(job, now),
    elapsedText: running ? elapsed(now - job.startedAt!) : null,
    estimateText:
      estimate === null || !Number.isFinite(estimate) ? null : estimate < 1000 ? "almost done" : `about ${roughDuration(estimate)} left`,
    heard:
      running && job.updatedAt !== null
        ? {
            iso: new Date(job.updatedAt).toISOString(),
            exact: exactTime(new Date(job.updatedAt)),
            quiet: quiet(job, now, settings),
            givenUpAt: job.leaseExpiresAt === null ? null : exactTime(new Date(job.leaseExpiresAt)),
          }
        : null,
    againUrl: type ? filledFormUrl(type, job.params) : null,
    formUrl: type ? newJobUrl(type.name) : "/",
    noun: w.noun,
    cancellable: !finished,
    cancelRequested: job.cancelRequestedAt !== null,
    cancelText: job.state === "cancelled" ? cancelText(job, w.doneWord, w.unit) : null,
    results: resultsView(job, type, w, options.all === true),
    files: finished
      ? (options.files ?? []).map((f) => ({ name: f.name, url: fileUrl(job.id, f.name), sizeText: formatBytes(f.size) }))
      : [],
    log,
    failure,
    internals,
  };
}

// What the job templates show, derived from a job record: titles, the
// sentence for the live region, progress, times and failure detail. The
// templates only print these.
import { isTerminal, type JobRecord, type JobState } from "../jobs/store.ts";
import { formatDuration } from "../jobs/format.ts";
import { jobUrl, statusUrl } from "./urls.ts";

export interface JobView {
  id: string;
  url: string;
  state: JobState;
  finished: boolean;
  title: string;
  description: string;
  stateLabel: string;
  /** The sentence the live region holds for this state; it changes only with the state. */
  announcement: string;
  /** The state this view shows, carried in the poll URL so the next poll knows whether to announce. */
  pollUrl: string;
  done: number;
  total: number;
  progressText: string;
  lastValue: unknown;
  queueText: string | null;
  created: TimeView | null;
  started: TimeView | null;
  finishedAt: TimeView | null;
  lastUpdate: string | null;
  /** The form, filled in with this job's numbers. */
  againUrl: string;
  cancellable: boolean;
  cancelRequested: boolean;
  results: unknown[];
  resultSummary: string | null;
  /** More values than fit without scrolling: the list sits in a scrollable, focusable box. */
  resultsScroll: boolean;
  /** The widest value's size class ("w4" … "w17", in characters), so a grid column fits every value unbroken. */
  resultWidth: string;
  /** What the cancelled page says happened. */
  cancelText: string | null;
  /** A failure in plain words first (message), then what a developer needs (facts, the log tail). */
  failure: { message: string; facts: string[]; detail: string | null } | null;
}

export interface TimeView {
  iso: string;
  text: string;
}

const STATE_LABELS: Record<JobState, string> = {
  queued: "Waiting to start",
  running: "Running",
  succeeded: "Finished",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function ordinal(n: number): string {
  const rem100 = n % 100;
  const suffix = rem100 >= 11 && rem100 <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
}

// One formatter for every number shown: Number#toLocaleString builds a new
// Intl formatter on each call, on every poll (the gain: bench/README.md).
const NUMBER = new Intl.NumberFormat("en-GB");
export const formatNumber = (n: number): string => NUMBER.format(n);

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

function ago(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 1 ? "just now" : `${formatDuration(seconds * 1000)} ago`;
}

function time(ms: number | null): TimeView | null {
  if (ms === null) return null;
  const iso = new Date(ms).toISOString();
  return { iso, text: `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` };
}

function countParams(job: JobRecord): { start: number; end: number; increment: number } | null {
  const { start, end, increment } = job.params as Record<string, unknown>;
  return typeof start === "number" && typeof end === "number" && typeof increment === "number" ? { start, end, increment } : null;
}

/** Column widths the stylesheet has for result values (characters, sign included). */
const VALUE_WIDTHS = [4, 6, 8, 11, 14, 17];

function widthClass(values: unknown[]): string {
  const widest = values.reduce<number>((max, v) => Math.max(max, String(v).length), 1);
  return `w${VALUE_WIDTHS.find((w) => w >= widest) ?? VALUE_WIDTHS[VALUE_WIDTHS.length - 1]}`;
}

/**
 * A failure in plain words. The recorded error is often written for
 * developers ("The job's process exited with code 1.", "lost: …"): those
 * become a sentence about the count, and the recorded text moves to the
 * technical detail.
 */
export function plainFailure(job: Pick<JobRecord, "reason" | "error" | "exitCode" | "signal" | "done" | "total" | "timeoutMs">): { message: string; technical: string | null } {
  const progress = `after ${formatNumber(job.done)} of ${plural(job.total, "value")}`;
  switch (job.reason) {
    case "lost":
      return { message: `The count stopped responding ${progress}, so it was given up.`, technical: "Its process stopped reporting." };
    case "never-started":
      return { message: `The count never started, so it was given up.`, technical: "Its process never reported that it started." };
    case "signal":
    case "exit-code":
    case "no-result":
    case "spawn-failed":
      return { message: `The count stopped unexpectedly ${progress}.`, technical: null };
    case "timeout":
      return { message: `The count took too long and was stopped ${progress}. Timed out after ${formatDuration(job.timeoutMs ?? 0)}.`, technical: null };
    case "unknown-type":
      return { message: "This job's type is not one this site runs, so it was not started.", technical: null };
    case "job-error":
      return { message: `The count could not finish: ${job.error ?? "it reported an error"}`, technical: null };
    default:
      return { message: `The count did not finish (${progress}).`, technical: job.error };
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function cancelText(job: Pick<JobRecord, "done" | "total" | "startedAt">): string {
  return job.startedAt === null && job.done === 0
    ? `Cancelled before it started; nothing was counted.`
    : `Cancelled after ${formatNumber(job.done)} of ${plural(job.total, "value")}.`;
}

export function announcement(job: Pick<JobRecord, "state" | "done" | "total" | "reason" | "error" | "exitCode" | "signal" | "startedAt" | "timeoutMs">): string {
  switch (job.state) {
    case "queued":
      return "Waiting to start.";
    case "running":
      return "Counting has started.";
    case "succeeded":
      return `Finished: ${plural(job.done, "value")} counted.`;
    case "failed":
      return `Failed: ${lowerFirst(plainFailure(job).message)}`;
    case "cancelled":
      return cancelText(job);
  }
}

export function jobView(job: JobRecord): JobView {
  const p = countParams(job);
  const finished = isTerminal(job.state);
  const url = jobUrl(job.id);
  const failure = job.state === "failed" ? plainFailure(job) : null;
  const facts: string[] = [];
  if (failure?.technical) facts.push(`Recorded error: ${failure.technical}`);
  if (job.exitCode !== null) facts.push(`Exit code: ${job.exitCode}`);
  if (job.signal) facts.push(`Signal: ${job.signal}`);
  if (job.pid !== null) facts.push(`Process: ${job.pid}${job.host ? ` on ${job.host}` : ""}`);
  return {
    id: job.id,
    url,
    state: job.state,
    finished,
    title: p ? `Count from ${p.start} to ${p.end}` : `Job ${job.id}`,
    description: p ? `Counting from ${p.start} to ${p.end} by ${p.increment}: ${plural(job.total, "value")}.` : `A ${job.type} job.`,
    stateLabel: STATE_LABELS[job.state],
    announcement: announcement(job),
    pollUrl: `${statusUrl(job.id)}?shown=${job.state}`,
    done: job.done,
    total: job.total,
    progressText: `${formatNumber(job.done)} of ${formatNumber(job.total)}`,
    lastValue: job.results.length > 0 ? job.results[job.results.length - 1]! : null,
    queueText: job.state === "queued" && job.queuePosition !== null ? `${ordinal(job.queuePosition + 1)} in line` : null,
    created: time(job.createdAt),
    started: time(job.startedAt),
    finishedAt: time(job.finishedAt),
    lastUpdate: job.updatedAt !== null ? ago(job.readAt - job.updatedAt) : null,
    againUrl: p ? `/count/${p.start}/${p.end}?increment=${p.increment}` : "/",
    cancellable: !finished,
    cancelRequested: job.cancelRequestedAt !== null,
    results: finished ? job.results : [],
    resultSummary:
      job.state === "succeeded" && p
        ? `${plural(job.results.length, "value")}, from ${job.results[0] ?? p.start} to ${job.results[job.results.length - 1] ?? p.end} by ${p.increment}.`
        : null,
    resultsScroll: finished && job.results.length > 10,
    resultWidth: widthClass(finished ? job.results : []),
    cancelText: job.state === "cancelled" ? cancelText(job) : null,
    failure: failure ? { message: failure.message, facts, detail: job.detail } : null,
  };
}

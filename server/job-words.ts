// The words a job is told in, for every page that names one: the labels of
// its states (the public pages' and the operator's), its title, the sentence
// for the live region, and a failure or a cancel in plain words. A type's
// own wording comes from its declaration (jobs/types/*.ts); the templates
// only print what is made here.
import { isTerminal, JOB_STATES, type EndReason, type JobRecord } from "../jobs/core/store.ts";
import { formatDuration, formatNumber } from "../jobs/core/format.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import { checkFields, type Params } from "../jobs/core/fields.ts";
import { jobType } from "../jobs/types/index.ts";
import { formatSize } from "./format-size.ts";

/** What a page shows: the state, or "cancelling" while a requested cancel has not ended the job. */
export const PHASES = [...JOB_STATES, "cancelling"] as const;
export type Phase = (typeof PHASES)[number];

/**
 * The words for a job's phase, per audience. The public pages speak to the
 * person who started the job ("Waiting to start", "Finished"); the
 * operator's pages use the states' own names ("Queued", "Succeeded"), as
 * the filters, the API and the logs do.
 */
export const STATE_LABELS: { readonly public: Readonly<Record<Phase, string>>; readonly operator: Readonly<Record<Phase, string>> } = {
  public: {
    queued: "Waiting to start",
    running: "Running",
    cancelling: "Stopping",
    succeeded: "Finished",
    failed: "Failed",
    cancelled: "Cancelled",
  },
  operator: {
    queued: "Queued",
    running: "Running",
    cancelling: "Cancelling",
    succeeded: "Succeeded",
    failed: "Failed",
    cancelled: "Cancelled",
  },
};

const DEFAULT_UNIT = ["step", "steps"] as const;

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

/** A type's wording applied to a record: a record whose parameters do not fit it gets the fallback instead of an error. */
export function safely<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback; // a record whose parameters do not fit its type's wording
  }
}

/**
 * A job's title ("Count from 1 to 10") from its type and parameters, on
 * every page (the job's, the recent jobs, the operator's list and job).
 * Parameters that no longer fit the type's fields (an older record) get the
 * type's own title; an unknown type, "A job of an unknown type".
 */
export function titleOf(
  type: JobType | undefined,
  params: Params,
  fits = type !== undefined && checkFields(type.fields, params, { fillDefaults: false }).ok,
): string {
  if (!type) return "A job of an unknown type";
  return (fits && safely(() => type.jobTitle(params), type.title)) || type.title;
}

/** A job's title, by its type's name. */
export function jobTitle(typeName: string, params: Params, types: readonly JobType[]): string {
  return titleOf(jobType(typeName, types), params);
}

/** The phase a page shows for a job. */
export function phaseOf(job: Pick<JobRecord, "state" | "cancelRequestedAt">): Phase {
  return !isTerminal(job.state) && job.cancelRequestedAt !== null ? "cancelling" : job.state;
}

/** The words for a job's phase on the public pages: "Waiting to start", "Running", "Stopping", "Finished"... */
export function stateLabel(job: Pick<JobRecord, "state" | "cancelRequestedAt">): string {
  return STATE_LABELS.public[phaseOf(job)];
}

export function progressPhrase(job: Pick<JobRecord, "done" | "total">, unit: readonly [string, string]): string {
  if (job.total > 0) return `after ${formatNumber(job.done)} of ${plural(job.total, ...unit)}`;
  if (job.done > 0) return `after ${plural(job.done, ...unit)}`;
  return "";
}

type FailureFacts = Pick<JobRecord, "type" | "reason" | "error" | "done" | "total" | "timeoutMs"> &
  Partial<Pick<JobRecord, "limit">> & { slurm?: { state: string } | null };

/** Why a cluster ended a job its runner could not report on (a lost job's Slurm state), in words; null for none of these. */
export function clusterEnd(state: string | null | undefined): string | null {
  switch (state) {
    case "NODE_FAIL":
      return "the cluster's node it ran on failed";
    case "BOOT_FAIL":
      return "the cluster's node could not be started for it";
    case "PREEMPTED":
      return "the cluster stopped it to make room for more urgent work";
    case "CANCELLED":
      return "the cluster's operators cancelled it";
    default:
      return null;
  }
}

/** A limit that stopped a job, in words: what it bounds, and its value. */
function limitWords(reason: EndReason, limit: number | null | undefined): { what: string; value: string } | null {
  const n = limit ?? null;
  switch (reason) {
    case "memory-limit":
      return { what: "more memory than its limit", value: n === null ? "" : ` of ${formatNumber(n)} MB` };
    case "cpu-limit":
      return { what: "more processor time than its limit", value: n === null ? "" : ` of ${formatDuration(n * 1000)}` };
    case "process-limit":
      return { what: "more processes at once than its limit", value: n === null ? "" : ` of ${formatNumber(n)}` };
    case "output-limit":
      return { what: "more output than its limit", value: n === null ? "" : ` of ${formatNumber(n)} MB` };
    case "file-size-limit":
      return { what: "a file larger than its limit", value: n === null ? "" : ` of ${formatNumber(n)} MB` };
    default:
      return null;
  }
}

/** A failure in plain words, once: the facts (exit code, signal) are listed apart and never repeated here. */
export function failureMessage(job: FailureFacts, noun: string, unit: readonly [string, string]): string {
  const Noun = capitalize(noun);
  const progress = progressPhrase(job, unit);
  const after = progress ? ` ${progress}` : "";
  switch (job.reason) {
    case "lost": {
      const cluster = clusterEnd(job.slurm?.state);
      return cluster ? `${Noun} was stopped${after}: ${cluster}.` : `${Noun} stopped responding${after}, so it was given up.`;
    }
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
    case "results-limit":
      return `${Noun} made more results than one job may keep, so it was stopped${after}. The results it made before are kept.`;
    case "unknown-type":
      return `This job's type (${job.type}) is not one this site runs, so it was not started.`;
    case "memory-limit":
    case "cpu-limit":
    case "process-limit":
    case "output-limit":
    case "file-size-limit": {
      const words = limitWords(job.reason, job.limit)!;
      return (
        `${Noun} used ${words.what}${words.value}, so it was stopped${after}. ` +
        "Try again with a smaller input, or ask this site's operators for a larger limit."
      );
    }
    default:
      return job.error ? `${Noun} did not finish: ${job.error}` : `${Noun} did not finish${progress ? ` (${progress})` : ""}.`;
  }
}

/** Why an earlier attempt ended, as the end of "Attempt 1 …": each end reason a retried attempt can have. */
export function attemptEnd(reason: EndReason, slurmState?: string): string {
  switch (reason) {
    case "lost": {
      const cluster = clusterEnd(slurmState);
      return cluster ? `was stopped: ${cluster}` : "stopped responding (its host or process was lost)";
    }
    case "never-started":
      return "never started";
    case "timeout":
      return "took longer than its time limit";
    case "signal":
    case "exit-code":
      return "stopped unexpectedly";
    case "no-result":
      return "ended without saying whether it succeeded";
    case "job-error":
      return "reported an error";
    case "spawn-failed":
      return "could not be started";
    case "results-limit":
      return "made more results than one job may keep";
    case "memory-limit":
    case "cpu-limit":
    case "process-limit":
    case "output-limit":
    case "file-size-limit":
      return `used ${limitWords(reason, null)!.what}`;
    default:
      return "ended";
  }
}

/** "Attempt 2 of 3" once a job has been retried; null for a job on its first attempt. */
export function attemptText(job: Pick<JobRecord, "attempt" | "maxAttempts">): string | null {
  return job.attempt > 1 ? `Attempt ${formatNumber(job.attempt)} of ${formatNumber(job.maxAttempts)}` : null;
}

export function cancelText(
  job: Pick<JobRecord, "done" | "total" | "startedAt" | "reason">,
  doneWord: string,
  unit: readonly [string, string],
): string {
  if (job.startedAt === null && job.done === 0) return `Cancelled before it started; nothing was ${doneWord}.`;
  const progress = progressPhrase(job, unit);
  const text = progress ? `Cancelled ${progress}.` : "Cancelled.";
  return job.reason === "cancel-killed" ? `${text} It did not stop by itself, so its process was stopped.` : text;
}

export interface Wording {
  noun: string;
  started: string;
  doneWord: string;
  doneSuffix: string;
  unit: readonly [string, string];
}

export function wording(type: JobType | undefined): Wording {
  const words = type?.words ?? {};
  return {
    noun: words.noun ?? "the job",
    started: words.started ?? "The job has started.",
    doneWord: words.done ?? "done",
    doneSuffix: words.done ? ` ${words.done}` : "",
    unit: type?.unit ?? DEFAULT_UNIT,
  };
}

/** The sentence the live region holds for a job's phase; it changes only with the phase. */
export function announcement(job: JobRecord, type: JobType | undefined): string {
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

/** What a job used, as operators read it: "Peak memory 123 MB · CPU time 2.3 s" (record.ts, JobUsage). */
export function usageText(usage: NonNullable<JobRecord["usage"]>): string {
  return `Peak memory ${formatSize(usage.peakMemoryBytes)} · CPU time ${formatDuration(usage.cpuMs)}`;
}

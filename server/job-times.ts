// A job's times in words: when it was submitted, started and ended ("3
// minutes ago", exact in the reader's zone), how long it ran, until when it
// is kept, how long it has run so far and how long is left, and whether a
// running job's heartbeat is overdue. The words that depend on the time now
// are coarse on purpose: a poll's answer is rendered once per change of the
// job or of these words (see timeWords in job-view.ts), so they change every
// 10 s in a job's first minute, then once a minute, never every second.
// Every time shown carries its instant in UTC for `<time datetime>`; the
// reader's zone (time-zone.ts) changes only the words.
import type { JobRecord } from "../jobs/core/store.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import { formatDuration } from "../jobs/core/format.ts";
import type { JobSettings } from "../jobs/core/settings.ts";
import { UTC } from "./time-zone.ts";

export interface TimeView {
  label: string;
  /** The instant in UTC, for `<time datetime>`. */
  iso: string;
  /** Exact, in the reader's zone; the date only on the first time shown, or when it differs: "2 Jan 2024, 04:04:05 CET", then "04:04:06 CET". */
  exact: string;
  /** "2 minutes ago", "in 7 days". */
  relative: string;
}

/** A time without its relative words: a heartbeat, an attempt's end. */
export interface ExactTime {
  iso: string;
  exact: string;
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

/** A time to come, ms from now: "in 7 days", "in 3 hours", or "within a minute". */
export function relativeFuture(ms: number): string {
  const age = roughAge(ms);
  return age === null ? "within a minute" : `in ${age}`;
}

/**
 * "Running for less than 10 s", "Running for 40 s" (in steps of 10 s: a
 * minute is long to read "less than a minute"), then "Running for 3 minutes".
 */
export function elapsed(ms: number): string {
  if (ms < 10_000) return "Running for less than 10 s";
  if (ms < 60_000) return `Running for ${Math.floor(ms / 10_000) * 10} s`;
  return `Running for ${roughAge(ms)!}`;
}

/**
 * A heartbeat is overdue: a whole beat late (a beat a little late on a busy
 * machine is no news), one beat before the lease (three) runs out.
 */
export function quiet(job: Pick<JobRecord, "updatedAt">, now: number, settings: Pick<JobSettings, "jobHeartbeatMs">): boolean {
  return job.updatedAt !== null && now - job.updatedAt > 2 * settings.jobHeartbeatMs;
}

/** A zone's formatters, made once each (an Intl formatter costs more to make than to use): at most one per zone the runtime knows. */
interface ZoneFormats {
  date: Intl.DateTimeFormat;
  /** "04:04:05 CET": the zone's short name ("GMT-5" where it has none in English). */
  time: Intl.DateTimeFormat;
  /** "04:04 CET": for a time far off, where seconds say nothing. */
  minute: Intl.DateTimeFormat;
}

const formats = new Map<string, ZoneFormats>();
function formatsOf(zone: string): ZoneFormats {
  let f = formats.get(zone);
  if (!f) {
    const clock = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" } as const;
    f = {
      date: new Intl.DateTimeFormat("en-GB", { timeZone: zone, day: "numeric", month: "short", year: "numeric" }),
      time: new Intl.DateTimeFormat("en-GB", { ...clock, second: "2-digit" }),
      minute: new Intl.DateTimeFormat("en-GB", clock),
    };
    formats.set(zone, f);
  }
  return f;
}

/** "03:04:05 UTC", "04:04:05 CET": in the reader's zone (a zone time-zone.ts has checked). */
export function exactTime(at: Date, zone: string = UTC): string {
  return formatsOf(zone).time.format(at);
}

/** An instant as a page shows it outside the list of times: exact in the zone, with its UTC ISO form. */
export function exactAt(ms: number, zone: string = UTC): ExactTime {
  const at = new Date(ms);
  return { iso: at.toISOString(), exact: exactTime(at, zone) };
}

/** The times a job's facts list: Submitted, Started, Ended, those the job has, each relative to now; and until when it is kept. */
export interface JobTimes {
  times: TimeView[];
  keptUntil: TimeView | null;
}

/**
 * Submitted, Started, Ended (those the job has) and Kept until, each exact
 * in the zone and relative to now. The date is said once, and again only
 * where it changes (a job kept 7 days ends on another date).
 */
export function times(job: JobRecord, now: number, zone: string = UTC, keptUntil: number | null = null): JobTimes {
  const f = formatsOf(zone);
  let lastDate: string | null = null;
  const view = (label: string, ms: number, clock: Intl.DateTimeFormat, relative: string): TimeView => {
    const at = new Date(ms);
    const date = f.date.format(at);
    const time = clock.format(at);
    const exact = date === lastDate ? time : `${date}, ${time}`;
    lastDate = date;
    return { label, iso: at.toISOString(), exact, relative };
  };
  const out: TimeView[] = [];
  for (const [label, ms] of [
    ["Submitted", job.createdAt],
    ["Started", job.startedAt],
    ["Ended", job.finishedAt],
  ] as const) {
    if (ms !== null) out.push(view(label, ms, f.time, relativeTime(now - ms)));
  }
  return { times: out, keptUntil: keptUntil === null ? null : view("Kept until", keptUntil, f.minute, relativeFuture(keptUntil - now)) };
}

/**
 * When an ended job and everything it made are deleted: its end plus its
 * retention for that end as its record keeps it (else its type's ttlSucceededS, else JOB_TTL_SUCCEEDED_S;
 * failed and cancelled: ttlFailedS, else JOB_TTL_FAILED_S), as the store
 * gave its keys their TTL (jobs/core/lua/includes/finish.lua). Null while it
 * has not ended.
 */
export function keptUntil(
  job: Pick<JobRecord, "state" | "finishedAt"> & Partial<Pick<JobRecord, "ttlSucceededS" | "ttlFailedS">>,
  type: Pick<JobType, "ttlSucceededS" | "ttlFailedS"> | undefined,
  settings: Pick<JobSettings, "jobTtlSucceededS" | "jobTtlFailedS">,
): number | null {
  if (job.finishedAt === null || (job.state !== "succeeded" && job.state !== "failed" && job.state !== "cancelled")) return null;
  // The retention its record keeps (what Redis applied), else what this server would apply.
  const ttlS =
    job.state === "succeeded"
      ? (job.ttlSucceededS ?? type?.ttlSucceededS ?? settings.jobTtlSucceededS)
      : (job.ttlFailedS ?? type?.ttlFailedS ?? settings.jobTtlFailedS);
  return job.finishedAt + ttlS * 1000;
}

/** How long a job ran, exact enough to quote: "less than a second", "12 s", "3 min 20 s", "2 h 5 min", "3 days 4 h". */
export function ranFor(ms: number): string {
  if (ms < 1000) return "less than a second";
  const and = (big: string, small: string | null) => (small === null ? big : `${big} ${small}`);
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return and(`${Math.floor(s / 60)} min`, s % 60 ? `${s % 60} s` : null);
  const m = Math.round(s / 60);
  if (m < 24 * 60) return and(`${Math.floor(m / 60)} h`, m % 60 ? `${m % 60} min` : null);
  const h = Math.round(m / 60);
  const d = Math.floor(h / 24);
  return and(`${d} ${d === 1 ? "day" : "days"}`, h % 24 ? `${h % 24} h` : null);
}

/** Whole seconds (at least one) up to two minutes, then whole minutes: "12 s", "16 min", then formatDuration's hours and days (a type's own estimates). */
export function roughDuration(ms: number): string {
  if (ms < 120_000) return formatDuration(Math.max(1, Math.round(ms / 1000)) * 1000);
  if (ms < 120 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return formatDuration(ms);
}

/**
 * The time left at the rate a job has gone so far: its steps left at its
 * steps per ms since it started. Null until it has done a step (no rate yet)
 * or without a total.
 */
export function leftAtRate(done: number, total: number, elapsedMs: number): number | null {
  if (total <= 0 || done <= 0 || elapsedMs <= 0) return null;
  return done >= total ? 0 : (elapsedMs * (total - done)) / done;
}

/**
 * A guess from the rate, in words coarse enough not to flicker as the rate
 * wobbles: "a few seconds left", "about 40 s left" (steps of 10 s), "about
 * 16 min left", "about 3 h left", "about 2 days left".
 */
export function roughLeft(ms: number): string {
  if (ms < 10_000) return "a few seconds left";
  if (ms < 55_000) return `about ${Math.round(ms / 10_000) * 10} s left`;
  if (ms < 90 * 60_000) return `about ${Math.max(1, Math.round(ms / 60_000))} min left`;
  if (ms < 36 * 3_600_000) return `about ${Math.round(ms / 3_600_000)} h left`;
  return `about ${Math.round(ms / 86_400_000)} days left`;
}

// A job's times in words: when it was submitted, started and ended ("3
// minutes ago", exact in UTC), how long it has run, how long is left, and
// whether a running job's heartbeat is overdue. The words are coarse on
// purpose: a poll's answer changes at most once a minute, or with the job.
import type { JobRecord } from "../jobs/core/store.ts";
import { formatDuration } from "../jobs/core/format.ts";
import type { JobSettings } from "../jobs/core/settings.ts";

export interface TimeView {
  label: string;
  iso: string;
  /** Exact, in UTC; the date only on the first time shown: "2 Jan 2024, 03:04:05 UTC", then "03:04:06 UTC". */
  exact: string;
  /** "2 minutes ago". */
  relative: string;
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
export function elapsed(ms: number): string {
  return `Running for ${roughAge(ms) ?? "less than a minute"}`;
}

/**
 * A heartbeat is overdue: a whole beat late (a beat a little late on a busy
 * machine is no news), one beat before the lease (three) runs out.
 */
export function quiet(job: Pick<JobRecord, "updatedAt">, now: number, settings: Pick<JobSettings, "jobHeartbeatMs">): boolean {
  return job.updatedAt !== null && now - job.updatedAt > 2 * settings.jobHeartbeatMs;
}

/**
 * Every word of a job's page that depends on the time now rather than on the
 * job: the times' "3 minutes ago", "Running for 3 minutes", and whether a
 * heartbeat is overdue. A rendered answer is reused while these stay the same.
 */
export function timeWords(job: JobRecord, now: number, settings: Pick<JobSettings, "jobHeartbeatMs">): string {
  let words = "";
  for (const ms of [job.createdAt, job.startedAt, job.finishedAt]) if (ms !== null) words += `|${roughAge(now - ms)}`;
  return job.state === "running" ? `${words}|${quiet(job, now, settings) ? "q" : ""}` : words;
}

const DATE = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" });
const TIME = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

/** "03:04:05 UTC". */
export function exactTime(at: Date): string {
  return `${TIME.format(at)} UTC`;
}

/** Submitted, Started, Ended: those the job has, each exact and relative to now. */
export function times(job: JobRecord, now: number): TimeView[] {
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
export function roughDuration(ms: number): string {
  if (ms < 120_000) return formatDuration(Math.max(1, Math.round(ms / 1000)) * 1000);
  if (ms < 120 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return formatDuration(ms);
}

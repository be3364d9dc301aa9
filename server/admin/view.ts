// What the operator's pages show, from the store's reads: the overview
// (counts, queue, instances, lost jobs, charts), a row of the jobs list, and
// the list's filters as they come from and go back into the query string.
import { JOB_STATES, type JobRow, type JobState, type JobStore, type ListCursor, type ListFilter } from "../../jobs/core/store.ts";
import { formatDuration, formatNumber } from "../../jobs/core/format.ts";
import { jobType } from "../../jobs/types/index.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import type { Params } from "../../jobs/core/fields.ts";
import { failureMessage, jobTitle, STATE_LABELS, usageText } from "../job-words.ts";
import { HttpError } from "../errors.ts";
import { formatSize } from "../format-size.ts";
import { barChart, type Chart } from "./charts.ts";

export const ADMIN_ROUTE = "/admin";
export const adminJobUrl = (id: string) => `${ADMIN_ROUTE}/jobs/${id}`;

/** Rows per page of the jobs list, by default and at most. */
export const PAGE_DEFAULT = 50;
export const PAGE_MAX = 200;
/** The most jobs a search by parameter value reads for one page; it then offers to go on from where it stopped. */
export const PARAM_SEARCH_MAX = 5000;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** "27 Nov 2026, 11:20:03 UTC". */
export function utc(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** "11:20" (UTC), for chart labels. */
const hhmm = (ms: number) => `${pad(new Date(ms).getUTCHours())}:${pad(new Date(ms).getUTCMinutes())}`;

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The jobs list's filters, as parsed from the query string. */
export interface Filters {
  state: JobState | "";
  type: string;
  /** As typed: "2026-11-27T10:00" (UTC) or an ISO time. */
  from: string;
  to: string;
  id: string;
  param: string;
  limit: number;
  after: ListCursor | null;
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? (v[0] ?? "") : (v ?? "")).trim();

/** A time typed in a filter: an ISO time, or a datetime-local value read as UTC. */
function parseTime(text: string, name: string): number | undefined {
  if (!text) return undefined;
  const withZone = /(?:Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}Z`;
  const ms = Date.parse(withZone);
  if (!Number.isFinite(ms))
    throw new HttpError(400, `The "${name}" time could not be read: use a time such as 2026-11-27T10:00 (UTC).`, { code: "bad-filter" });
  return ms;
}

export function parseFilters(
  query: Record<string, string | string[] | undefined>,
  types: readonly JobType[],
): {
  filters: Filters;
  list: ListFilter;
  paramQuery: string;
} {
  const state = one(query.state);
  const type = one(query.type);
  const id = one(query.id).toLowerCase();
  const param = one(query.param);
  const limitText = one(query.limit);
  const afterText = one(query.after);
  if (state && !(JOB_STATES as readonly string[]).includes(state)) {
    throw new HttpError(400, `There is no state "${state}": choose one of ${JOB_STATES.join(", ")}.`, { code: "bad-filter" });
  }
  if (type && !jobType(type, types)) {
    throw new HttpError(400, `There is no job type "${type}": choose one of ${types.map((t) => t.name).join(", ")}.`, {
      code: "bad-filter",
    });
  }
  if (id && !/^[0-9a-f]{1,32}$/.test(id))
    throw new HttpError(400, "A job id is made of up to 32 hexadecimal digits (0-9, a-f).", { code: "bad-filter" });
  if (param.length > 200) throw new HttpError(400, "A parameter value to search for is at most 200 characters.", { code: "bad-filter" });
  let limit = PAGE_DEFAULT;
  if (limitText) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > PAGE_MAX) {
      throw new HttpError(400, `The page size is a whole number from 1 to ${PAGE_MAX}.`, { code: "bad-filter" });
    }
  }
  let after: ListCursor | null = null;
  if (afterText) {
    const m = /^(\d{1,16})\.([0-9a-f]{32})$/.exec(afterText);
    if (!m) throw new HttpError(400, "The page cursor could not be read: start again from the first page.", { code: "bad-cursor" });
    after = { createdAt: Number(m[1]), id: m[2]! };
  }
  const fromText = one(query.from);
  const toText = one(query.to);
  const from = parseTime(fromText, "from");
  const to = parseTime(toText, "to");
  const list: ListFilter = {
    types: type ? [type] : types.map((t) => t.name),
    states: state ? [state as JobState] : undefined,
    from,
    to,
    idPrefix: id || undefined,
  };
  return { filters: { state: state as JobState | "", type, from: fromText, to: toText, id, param, limit, after }, list, paramQuery: param };
}

export const cursorText = (c: ListCursor) => `${c.createdAt}.${c.id}`;

/** The query string of these filters (empty ones left out), with a cursor or none. */
export function filterQuery(f: Filters, after: ListCursor | null): string {
  const q = new URLSearchParams();
  if (f.state) q.set("state", f.state);
  if (f.type) q.set("type", f.type);
  if (f.from) q.set("from", f.from);
  if (f.to) q.set("to", f.to);
  if (f.id) q.set("id", f.id);
  if (f.param) q.set("param", f.param);
  if (f.limit !== PAGE_DEFAULT) q.set("limit", String(f.limit));
  if (after) q.set("after", cursorText(after));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Whether a row has a parameter whose value contains the text (case-insensitive). */
export function paramMatches(row: JobRow, text: string): boolean {
  const needle = text.toLowerCase();
  return Object.values(row.params).some((v) => {
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return typeof s === "string" && s.toLowerCase().includes(needle);
  });
}

/** The first line of a failure: the job's own error, else the reason in words. */
export function errorLine(
  row: Pick<JobRow, "type" | "state" | "reason" | "error" | "done" | "total">,
  types: readonly JobType[],
): string | null {
  if (row.state !== "failed") return null;
  const type = jobType(row.type, types);
  const text = failureMessage({ ...row, timeoutMs: null }, type?.words?.noun ?? "the job", type?.unit ?? ["step", "steps"]);
  return (row.error ?? text).split("\n")[0]!.trim() || text;
}

export function rowView(row: JobRow, now: number, types: readonly JobType[]) {
  const end = row.finishedAt ?? (row.state === "running" ? now : null);
  const durationMs = row.startedAt !== null && end !== null ? Math.max(0, end - row.startedAt) : null;
  return {
    id: row.id,
    url: adminJobUrl(row.id),
    pageUrl: `/jobs/${row.id}`,
    type: row.type,
    title: jobTitle(row.type, row.params as Params, types),
    state: row.state,
    stateLabel: STATE_LABELS.operator[row.state === "running" && row.cancelRequestedAt !== null ? "cancelling" : row.state],
    submitted: utc(row.createdAt),
    submittedIso: iso(row.createdAt)!,
    durationMs,
    duration: durationMs === null ? "" : formatDuration(durationMs),
    error: errorLine(row, types),
    /** What it used, once it has ended and when it was measured: "Peak memory 123 MB · CPU time 2.3 s". */
    usage: row.usage ? usageText(row.usage) : "",
    retryOf: row.retryOf,
    retriedAs: row.retriedAs,
  };
}
export type RowView = ReturnType<typeof rowView>;

export function rowJson(row: JobRow, now: number, types: readonly JobType[]) {
  const v = rowView(row, now, types);
  return {
    id: row.id,
    url: v.pageUrl,
    adminUrl: v.url,
    type: row.type,
    title: v.title,
    state: row.state,
    reason: row.reason,
    params: row.params,
    createdAt: iso(row.createdAt),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    durationMs: v.durationMs,
    usage: row.usage,
    error: v.error,
    retryOf: row.retryOf,
    retriedAs: row.retriedAs,
  };
}

// ---------------------------------------------------------------- charts

/** The duration at quantile q of a histogram whose bucket b holds durations up to 2^(b/4) ms. */
export function histogramQuantile(buckets: Map<number, number>, q: number): number | null {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((s, [, c]) => s + c, 0);
  if (total === 0) return null;
  let seen = 0;
  for (const [bucket, count] of sorted) {
    seen += count;
    if (seen >= q * total) return 2 ** (bucket / 4);
  }
  return 2 ** (sorted.at(-1)![0] / 4);
}

/** What the jobs of each type used, as the store reads it (store/operator.ts, usage). */
export type UsageByType = Awaited<ReturnType<JobStore["usage"]>>;

/**
 * The p50 and p95 of the peak memory (bytes) and CPU time (ms) of the jobs
 * of each type that ended with their usage measured in the last day, to
 * within about 19% (the buckets' width, as the durations').
 */
export function usagePercentiles(usage: UsageByType) {
  const round = (v: number | null) => (v === null ? null : Math.round(v));
  return Object.entries(usage).map(([type, u]) => ({
    type,
    jobs: [...u.cpuMs.values()].reduce((s, c) => s + c, 0),
    peakMemoryBytes: { p50: round(histogramQuantile(u.peakMemoryBytes, 0.5)), p95: round(histogramQuantile(u.peakMemoryBytes, 0.95)) },
    cpuMs: { p50: round(histogramQuantile(u.cpuMs, 0.5)), p95: round(histogramQuantile(u.cpuMs, 0.95)) },
  }));
}

/** The same, as the overview's table shows it. */
export function usageRows(usage: UsageByType) {
  const size = (v: number | null) => (v === null ? "no jobs" : formatSize(v));
  const time = (v: number | null) => (v === null ? "no jobs" : formatDuration(v));
  return usagePercentiles(usage).map((u) => ({
    type: u.type,
    jobs: formatNumber(u.jobs),
    memoryP50: size(u.peakMemoryBytes.p50),
    memoryP95: size(u.peakMemoryBytes.p95),
    cpuP50: time(u.cpuMs.p50),
    cpuP95: time(u.cpuMs.p95),
  }));
}

export interface ChartData {
  ended: { minute: number; succeeded: number; failed: number; cancelled: number; lost: number }[];
  durations: Record<string, Map<number, number>>;
  queue: { minute: number; length: number | null }[];
}

export function charts(data: ChartData): Chart[] {
  const endedLabels = data.ended.map((e) => hhmm(e.minute));
  const ended = barChart({
    id: "chart-ended",
    title: "Jobs finished per minute, last hour",
    summary: `${formatNumber(data.ended.reduce((s, e) => s + e.succeeded, 0))} succeeded and ${formatNumber(data.ended.reduce((s, e) => s + e.failed, 0))} failed in the last hour; times in UTC.`,
    labels: endedLabels,
    stacked: true,
    unit: "jobs",
    series: [
      { label: "Succeeded", className: "bar-ok", values: data.ended.map((e) => e.succeeded) },
      { label: "Failed", className: "bar-bad", values: data.ended.map((e) => e.failed) },
    ],
    table: {
      heading: "Minute (UTC)",
      columns: ["Succeeded", "Failed"],
      rows: data.ended
        .filter((e) => e.succeeded + e.failed > 0)
        .map((e) => ({ label: hhmm(e.minute), cells: [String(e.succeeded), String(e.failed)] })),
    },
  });
  const types = Object.keys(data.durations);
  const p = types.map((t) => ({
    type: t,
    p50: histogramQuantile(data.durations[t]!, 0.5),
    p95: histogramQuantile(data.durations[t]!, 0.95),
  }));
  const durations = barChart(
    {
      id: "chart-durations",
      title: "Duration per job type, last 24 hours (p50 and p95)",
      summary:
        "The median and 95th percentile time from start to end of the jobs of each type that ended in the last 24 hours, to within about 19%.",
      labels: types,
      stacked: false,
      unit: "ms",
      series: [
        { label: "p50", className: "bar-p50", values: p.map((x) => x.p50) },
        { label: "p95", className: "bar-p95", values: p.map((x) => x.p95) },
      ],
      table: {
        heading: "Job type",
        columns: ["p50", "p95"],
        rows: p.map((x) => ({
          label: x.type,
          cells: [x.p50 === null ? "no jobs" : formatDuration(x.p50), x.p95 === null ? "no jobs" : formatDuration(x.p95)],
        })),
      },
    },
    formatDuration,
  );
  const queue = barChart({
    id: "chart-queue",
    title: "Queue length, last hour",
    summary: "The number of jobs waiting for a slot, sampled by the instances once a minute; times in UTC.",
    labels: data.queue.map((q) => hhmm(q.minute)),
    stacked: false,
    unit: "jobs",
    series: [{ label: "Waiting", className: "bar-queue", values: data.queue.map((q) => q.length) }],
    table: {
      heading: "Minute (UTC)",
      columns: ["Waiting"],
      rows: data.queue.filter((q) => q.length !== null).map((q) => ({ label: hhmm(q.minute), cells: [String(q.length)] })),
    },
  });
  return [ended, durations, queue];
}

// The status fragment htmx polls: one answer for both ways it is served,
// the request listener's fast path (server/listener.ts) and the Koa route
// (server/routes/jobs.ts). Also the one read a job page makes, so the page
// and the poll show the same thing.
import type { IncomingMessage } from "node:http";
import { isTerminal, type FileEntry, type JobRecord } from "../jobs/core/store.ts";
import { jobView, timeWords, type ViewSettings } from "./job-view.ts";
import { PHASES, phaseOf, type Phase } from "./job-words.ts";
import type { Renderer } from "./render.ts";

/** htmx stops polling when a response has this status. */
export const STOP_POLLING = 286;

export interface StatusAnswer {
  status: number;
  message?: string;
  body: string;
  /** The answer as the request listener writes it, made on its first use. */
  wire?: { headers: string[]; body: Buffer };
}

/** Rendered answers kept with a read, by what they depend on besides the read. */
export interface AnswerMemo {
  answer(key: string, make: () => StatusAnswer): StatusAnswer;
}

/**
 * A job as its page shows it: the record (the first results, the log's last
 * lines) and, once it has ended, its files. A read kept by the job cache
 * also keeps the answers rendered from it (answer) and tells Redis' clock
 * now (now); a fresh read's clock is its readAt.
 */
export interface PageRead extends Partial<AnswerMemo> {
  job: JobRecord;
  files: FileEntry[];
  /** The bytes of the results read (their JSON texts), when known: what a page rendering them reserves (answer-budget.ts). */
  resultBytes?: number;
  now?(): number;
}

/** Where pages read jobs from: the job cache (server/job-cache.ts), or Redis directly. */
export interface PageReader {
  /** A kept read that may be served now, without waiting; else undefined. */
  peek(id: string): PageRead | undefined;
  /** The read a job page or a poll shows (`all`: up to RESULTS_ALL_MAX results), or null when there is no such job. */
  read(id: string, options?: { all?: boolean }): Promise<PageRead | null>;
  /** This server has just changed the job: its next read must come from Redis. */
  forget(id: string): void;
}

/** Redis' clock for what a read shows: now, for a kept read. */
export const clockOf = (read: PageRead): number => read.now?.() ?? read.job.readAt;

export interface PollQuery {
  /** ?shown=: the phase the page last announced; only a change announces. */
  shown: unknown;
  /** ?log=1: the page already has the log box, so only its lines are sent. */
  log: unknown;
}

/**
 * The poll answer for a job: 200, or 286 (stop polling) once it has ended.
 * htmx: the request came from htmx (HX-Request), so the fragment can say it updates by itself.
 * zone: the reader's time zone (time-zone.ts: readerZone), which the exact times are in.
 * Rendered once per read and variant when the read keeps its answers: the
 * variant is the shown phase, htmx, the log box, the reader's zone (two
 * readers in two zones never get each other's answer), and the words of the
 * times ("3 minutes ago", "Running for 40 s"), which change every 10 s in a
 * job's first minute, then at most once a minute.
 */
export function statusFragment(
  renderer: Renderer,
  read: PageRead,
  query: PollQuery,
  { settings, htmx, zone }: { settings: ViewSettings; htmx: boolean; zone: string },
): StatusAnswer {
  const { job } = read;
  const shown = query.shown;
  const phase = phaseOf(job);
  const announce = typeof shown !== "string" || !PHASES.includes(shown as Phase) || shown !== phase;
  const pageHasLog = query.log === "1";
  const now = clockOf(read);
  const make = (): StatusAnswer => {
    const view = jobView(job, { settings, files: read.files, now, zone });
    const body = renderer.render("fragments/job-poll", { job: view, announce, htmx, pageHasLog });
    return isTerminal(job.state) ? { status: STOP_POLLING, message: "Finished", body } : { status: 200, body };
  };
  if (!read.answer) return make();
  return read.answer(`${announce ? "a" : "-"}${htmx ? "h" : "-"}${pageHasLog ? "l" : "-"}${zone}${timeWords(job, now, settings)}`, make);
}

/**
 * The poll's query as Koa's ctx.query gives it: a string, an array when
 * repeated (which is not a phase, so it announces), or undefined.
 */
export function pollQuery(query: string): PollQuery {
  if (query === "") return { shown: undefined, log: undefined };
  const params = new URLSearchParams(query);
  const one = (name: string) => {
    const values = params.getAll(name);
    return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  };
  return { shown: one("shown"), log: one("log") };
}

/**
 * A read the request listener already made for a poll it hands on to Koa (no
 * such job, Redis unreachable): the route answers from it instead of asking
 * Redis a second time.
 */
const prefetched = new WeakMap<IncomingMessage, Promise<PageRead | null>>();

export function rememberRead(req: IncomingMessage, read: Promise<PageRead | null>): void {
  // Handled by whoever awaits it; this copy must not count as unhandled.
  read.catch(() => {});
  prefetched.set(req, read);
}

export function takeRead(req: IncomingMessage): Promise<PageRead | null> | undefined {
  const read = prefetched.get(req);
  prefetched.delete(req);
  return read;
}

// The status fragment htmx polls: one answer for both ways it is served,
// the request listener's fast path (server/listener.ts) and the Koa route
// (server/routes/jobs.ts). Also the one read a job page makes, so the page
// and the poll show the same thing.
import type { IncomingMessage } from "node:http";
import { isTerminal, type JobRecord, type JobStore } from "../jobs/store.ts";
import { jobView, LOG_LINES_SHOWN, PHASES, phaseOf, RESULTS_ALL_MAX, RESULTS_SHOWN, type Phase, type ViewSettings } from "./job-view.ts";
import type { Renderer } from "./render.ts";

/** htmx stops polling when a response has this status. */
export const STOP_POLLING = 286;

export interface StatusAnswer {
  status: number;
  message?: string;
  body: string;
}

/** A job as its page shows it: the record (the first results, the log's last lines) and, once it has ended, its files. */
export interface PageRead {
  job: JobRecord;
  files: { name: string; size: number }[];
}

/** Reads what a job page or a poll shows, in one round trip while the job runs (two once it has ended: its files). */
export async function readForPage(store: JobStore, id: string, { all = false } = {}): Promise<PageRead | null> {
  const job = await store.read(id, "auto", { resultLimit: all ? RESULTS_ALL_MAX : RESULTS_SHOWN, logLines: LOG_LINES_SHOWN });
  if (!job) return null;
  return { job, files: isTerminal(job.state) ? await store.listFiles(id) : [] };
}

export interface PollQuery {
  /** ?shown=: the phase the page last announced; only a change announces. */
  shown: unknown;
  /** ?log=1: the page already has the log box, so only its lines are sent. */
  log: unknown;
}

/**
 * The poll answer for a job: 200, or 286 (stop polling) once it has ended.
 * htmx: the request came from htmx (HX-Request), so the fragment can say it updates by itself.
 */
export function statusFragment(
  renderer: Renderer,
  read: PageRead,
  query: PollQuery,
  { settings, htmx }: { settings: ViewSettings; htmx: boolean },
): StatusAnswer {
  const { job } = read;
  const shown = query.shown;
  const phase = phaseOf(job);
  const announce = typeof shown !== "string" || !PHASES.includes(shown as Phase) || shown !== phase;
  const view = jobView(job, { settings, files: read.files });
  const body = renderer.render("fragments/job-poll", { job: view, announce, htmx, pageHasLog: query.log === "1" });
  return isTerminal(job.state) ? { status: STOP_POLLING, message: "Finished", body } : { status: 200, body };
}

/**
 * The poll's query as Koa's ctx.query gives it: a string, an array when
 * repeated (which is not a phase, so it announces), or undefined.
 */
export function pollQuery(query: string): PollQuery {
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

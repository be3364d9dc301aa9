// The status fragment htmx polls: one answer for both ways it is served,
// the request listener's fast path (server/listener.ts) and the Koa route
// (server/routes/jobs.ts).
import type { IncomingMessage } from "node:http";
import { isTerminal, JOB_STATES, type JobRecord, type JobState } from "../jobs/store.ts";
import { jobView } from "./job-view.ts";
import type { Renderer } from "./render.ts";

/** htmx stops polling when a response has this status. */
export const STOP_POLLING = 286;

export interface StatusAnswer {
  status: number;
  message?: string;
  body: string;
}

/**
 * The poll answer for a job: 200, or 286 (stop polling) once it has ended.
 * shown: the ?shown= value(s) of the poll; only a change of state announces.
 */
export function statusFragment(renderer: Renderer, job: JobRecord, shown: unknown): StatusAnswer {
  const announce = typeof shown !== "string" || !JOB_STATES.includes(shown as JobState) || shown !== job.state;
  const body = renderer.render("fragments/job-poll", { job: jobView(job), announce });
  return isTerminal(job.state) ? { status: STOP_POLLING, message: "Finished", body } : { status: 200, body };
}

/**
 * ?shown= as Koa's ctx.query gives it: a string, an array when repeated (which
 * is not a state, so it announces), or undefined.
 */
export function shownParam(query: string): string | string[] | undefined {
  const values = query === "" ? [] : new URLSearchParams(query).getAll("shown");
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
}

/**
 * A read the request listener already made for a poll it hands on to Koa (no
 * such job, Redis unreachable): the route answers from it instead of asking
 * Redis a second time.
 */
const prefetched = new WeakMap<IncomingMessage, Promise<JobRecord | null>>();

export function rememberRead(req: IncomingMessage, read: Promise<JobRecord | null>): void {
  // Handled by whoever awaits it; this copy must not count as unhandled.
  read.catch(() => {});
  prefetched.set(req, read);
}

export function takeRead(req: IncomingMessage): Promise<JobRecord | null> | undefined {
  const read = prefetched.get(req);
  prefetched.delete(req);
  return read;
}

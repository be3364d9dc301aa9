// Every address of a job, in one place: the routers mount these patterns, the
// request listener matches the status poll with the same pieces, and pages and
// redirects build links with the helpers.
import { isJobId } from "../jobs/store.ts";

/** The router prefix of a job's pages. */
export const JOB_ROUTE = "/jobs/:id";
/** The fragment htmx polls, under JOB_ROUTE. */
export const STATUS_ROUTE = "/status";

export const jobUrl = (id: string): string => `/jobs/${id}`;
export const statusUrl = (id: string): string => `${jobUrl(id)}${STATUS_ROUTE}`;

const JOBS_PREFIX = JOB_ROUTE.slice(0, JOB_ROUTE.indexOf(":id"));

/**
 * The job id and query of a status poll URL (`/jobs/<id>/status?…`), or null.
 * The same test as the router's: the pattern above, then a valid job id.
 */
export function matchStatusPoll(url: string): { id: string; query: string } | null {
  if (!url.startsWith(JOBS_PREFIX)) return null;
  const q = url.indexOf("?");
  const pathname = q === -1 ? url : url.slice(0, q);
  const id = pathname.slice(JOBS_PREFIX.length, pathname.length - STATUS_ROUTE.length);
  if (!pathname.endsWith(STATUS_ROUTE) || !isJobId(id)) return null;
  return { id, query: q === -1 ? "" : url.slice(q + 1) };
}

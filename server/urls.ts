// Every address of a job and of a job type's form, in one place: the routers
// mount these patterns, the request listener matches the status poll with the
// same pieces, and pages and redirects build links with the helpers.
import { isJobId } from "../jobs/core/store.ts";
import type { JobType } from "../jobs/core/job-type.ts";

/** The router prefix of a job's pages. */
export const JOB_ROUTE = "/jobs/:id";
/** The fragment htmx polls, under JOB_ROUTE. */
export const STATUS_ROUTE = "/status";
/** A job's full log, as text, under JOB_ROUTE. */
export const LOG_ROUTE = "/log";
/** One output file of a job, under JOB_ROUTE. */
export const FILE_ROUTE = "/files/:name";
/** A job type's form (GET) and where it is sent (POST). Mounted before JOB_ROUTE: "new" is never a job id. */
export const NEW_JOB_ROUTE = "/jobs/new/:type";

/** "My jobs": a signed-in person's jobs (routes/mine.ts). */
export const MY_JOBS_URL = "/jobs/mine";
export const jobUrl = (id: string): string => `/jobs/${id}`;
export const statusUrl = (id: string): string => `${jobUrl(id)}${STATUS_ROUTE}`;
export const logUrl = (id: string): string => `${jobUrl(id)}${LOG_ROUTE}`;
export const fileUrl = (id: string, name: string): string => `${jobUrl(id)}/files/${encodeURIComponent(name)}`;
export const newJobUrl = (type: string): string => NEW_JOB_ROUTE.replace(":type", encodeURIComponent(type));

/** Where a type's form is sent: its short address when it declares one. */
export const formAction = (type: JobType): string => type.aliases?.post ?? newJobUrl(type.name);

/**
 * The type's form filled in with these parameters ("start this again"): its
 * fill address when it declares one (path parameters, the rest as a query),
 * else its form's address with the parameters as a query.
 */
export function filledFormUrl(type: JobType, params: Record<string, unknown>, from?: string): string {
  const query = new URLSearchParams();
  let path = type.aliases?.fill ?? newJobUrl(type.name);
  const inPath = new Set<string>();
  if (type.aliases?.fill) {
    path = path.replace(/:([a-z][a-z0-9_]*)/g, (_, name: string) => {
      inPath.add(name);
      const value = params[name];
      return encodeURIComponent(typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? String(value) : "");
    });
  }
  for (const field of type.fields) {
    const value = params[field.name];
    if (inPath.has(field.name) || field.kind === "file") continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") query.set(field.name, String(value));
  }
  // The job whose files the form offers again (server/kept-uploads.ts).
  if (from !== undefined) query.set("from", from);
  const q = query.toString();
  return q ? `${path}?${q}` : path;
}

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

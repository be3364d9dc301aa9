// "Your recent jobs": the jobs this browser submitted, kept in a cookie.
//
// The cookie holds job ids only (newest first, at most RECENT_MAX), signed
// with the app's keys (SESSION_SECRET, see app.ts), HttpOnly and
// SameSite=Lax. A cookie whose signature does not match is ignored. A job's
// id is its capability: the list shows only jobs whose ids this browser
// holds, and only while they exist; ids of expired (or never existing) jobs
// drop out quietly, and the cookie is written again without them.
import type { RecentJob } from "./api-schemas.ts";
import type { Context } from "koa";
import { isJobId, isTerminal, StoreUnavailableError, type JobStore, type JobSummary } from "../jobs/core/store.ts";
import type { Params } from "../jobs/core/fields.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import type { Config } from "./config.ts";
import { jobTitle, phaseOf, relativeTime, stateLabel } from "./job-view.ts";
import { jobUrl } from "./urls.ts";

export const RECENT_COOKIE = "sidejob_recent";
/** How many jobs the list keeps: the newest. */
export const RECENT_MAX = 20;
const SEPARATOR = ".";

/** The cookie lives as long as the longest-kept job: after that every id in it has expired. */
export function recentMaxAgeMs(config: Pick<Config, "jobTtlSucceededS" | "jobTtlFailedS">, types: readonly JobType[]): number {
  const ttls = [config.jobTtlSucceededS, config.jobTtlFailedS, ...types.flatMap((t) => [t.ttlSucceededS ?? 0, t.ttlFailedS ?? 0])];
  return Math.max(...ttls) * 1000;
}

/** The ids in this browser's cookie, newest first; none when it is missing, malformed or its signature does not match. */
export function readRecentIds(ctx: Context): string[] {
  let value: string | undefined;
  try {
    value = ctx.cookies.get(RECENT_COOKIE, { signed: true });
  } catch {
    return [];
  }
  if (!value) return [];
  const ids = value.split(SEPARATOR).filter(isJobId);
  return [...new Set(ids)].slice(0, RECENT_MAX);
}

export function writeRecentIds(ctx: Context, ids: readonly string[], maxAgeMs: number): void {
  const options = { signed: true, httpOnly: true, sameSite: "lax" as const, path: "/", overwrite: true };
  if (ids.length === 0) ctx.cookies.set(RECENT_COOKIE, null, options);
  else ctx.cookies.set(RECENT_COOKIE, ids.slice(0, RECENT_MAX).join(SEPARATOR), { ...options, maxAge: maxAgeMs });
}

/** Puts a job this browser just submitted first in its list. */
export function rememberJob(ctx: Context, id: string, maxAgeMs: number): void {
  writeRecentIds(ctx, [id, ...readRecentIds(ctx).filter((other) => other !== id)], maxAgeMs);
}

/** Takes a job off this browser's list; whether it was on it. */
export function forgetJob(ctx: Context, id: string, maxAgeMs: number): boolean {
  const ids = readRecentIds(ctx);
  if (!ids.includes(id)) return false;
  writeRecentIds(
    ctx,
    ids.filter((other) => other !== id),
    maxAgeMs,
  );
  return true;
}

/** A job on the list, as GET /recent answers it (its schema: api-schemas.ts). */
export type { RecentJob };

export interface RecentList {
  jobs: RecentJob[];
  /** Redis did not answer: the list cannot be shown now (the cookie is left as it is). */
  unavailable: boolean;
}

/**
 * This browser's jobs that still exist, newest first, read in one round
 * trip. Ids with no job are dropped from the cookie.
 */
export async function recentJobs(
  ctx: Context,
  store: JobStore,
  maxAgeMs: number,
  types: readonly JobType[],
  now = Date.now(),
): Promise<RecentList> {
  const ids = readRecentIds(ctx);
  if (ids.length === 0) return { jobs: [], unavailable: false };
  let found: (JobSummary | null)[];
  try {
    found = await store.summaries(ids);
  } catch (err) {
    if (err instanceof StoreUnavailableError) return { jobs: [], unavailable: true };
    throw err;
  }
  const jobs = found.filter((job): job is JobSummary => job !== null);
  if (jobs.length !== ids.length)
    writeRecentIds(
      ctx,
      jobs.map((job) => job.id),
      maxAgeMs,
    );
  return {
    unavailable: false,
    jobs: jobs.map((job) => ({
      id: job.id,
      url: jobUrl(job.id),
      type: job.type,
      title: jobTitle(job.type, job.params as Params, types),
      state: job.state,
      phase: phaseOf(job),
      stateLabel: stateLabel(job),
      finished: isTerminal(job.state),
      createdAt: job.createdAt === null ? null : new Date(job.createdAt).toISOString(),
      submittedText: job.createdAt === null ? null : relativeTime(Math.max(0, now - job.createdAt)),
    })),
  };
}

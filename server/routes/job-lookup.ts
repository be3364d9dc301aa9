// How a job's routes find the job their address names: its id from the
// address, the page's read (through the job cache), the JSON read, an ended
// job for a download, and the 404 every one of them answers when there is
// no such job, or when it is a signed-in person's job this reader may not
// open (JOB_VISIBILITY=owner: server/identity.ts): the same answer, so an
// address says nothing of another person's job.
import type { Context } from "koa";
import { isJobId, isTerminal, type JobRecord } from "../../jobs/core/store.ts";
import { formatDuration } from "../../jobs/core/format.ts";
import { HttpError } from "../errors.ts";
import { JSON_RESULTS_MAX, JSON_RESULTS_MAX_BYTES, jobJson } from "../job-json.ts";
import { phaseOf } from "../job-words.ts";
import { takeRead, type PageRead } from "../status.ts";
import type { AppDeps } from "../deps.ts";
import { userOf } from "../identity.ts";

export interface JobLookup {
  /** The 404 for a job that is not there (expired, or a mistyped address), with how long jobs are kept. */
  notFound: () => HttpError;
  /** The job id in the address, or the 404. */
  jobId: (ctx: Context) => string;
  /** The read a job page or a poll shows: the request listener's when it made one, else the pages' reader. */
  loadPage: (ctx: Context, all?: boolean) => Promise<PageRead>;
  /** The job as JSON, with its files once it has ended. */
  loadJson: (ctx: Context) => Promise<ReturnType<typeof jobJson>>;
  /** A job that has ended: its results (all of them when it succeeded, what it had made when it did not) can be downloaded. */
  endedJob: (ctx: Context) => Promise<JobRecord>;
  /** The 404 unless this reader may open the job (it has no owner, or it is theirs, or JOB_VISIBILITY=link). */
  mayOpen: (ctx: Context, job: { user: string | null }) => void;
  /** mayOpen for a job known by its id only (a cancel): read only when sign-in can restrict it. */
  mayOpenId: (ctx: Context, id: string) => Promise<void>;
}

export function jobLookup({ store, pages, config, identity }: Pick<AppDeps, "store" | "pages" | "config" | "identity">): JobLookup {
  const notFound = () =>
    new HttpError(404, "There is no job at this address. It may have expired, or the address may be mistyped.", {
      title: "Job not found",
      detail: [
        `Finished jobs are kept for ${formatDuration(config.jobTtlSucceededS * 1000)} after they succeed, ` +
          `and for ${formatDuration(config.jobTtlFailedS * 1000)} after they fail or are cancelled.`,
      ],
    });

  const jobId = (ctx: Context): string => {
    const id = (ctx.params as Record<string, string | undefined>).id;
    if (!isJobId(id)) throw notFound();
    return id;
  };

  const mayOpen = (ctx: Context, job: { user: string | null }): void => {
    if (!identity.mayOpen(job, userOf(ctx))) throw notFound();
  };

  return {
    notFound,
    jobId,
    mayOpen,
    async mayOpenId(ctx, id) {
      if (!identity.restricts) return;
      const job = await store.read(id, "auto", { resultLimit: 1 });
      if (job) mayOpen(ctx, job);
    },
    async loadPage(ctx, all = false) {
      const id = jobId(ctx);
      const found = await (takeRead(ctx.req) ?? pages.read(id, { all }));
      if (!found) throw notFound();
      mayOpen(ctx, found.job);
      return found;
    },
    async loadJson(ctx) {
      const id = jobId(ctx);
      const job = await store.read(id, "all", { resultLimit: JSON_RESULTS_MAX, resultBytes: JSON_RESULTS_MAX_BYTES });
      if (!job) throw notFound();
      mayOpen(ctx, job);
      return jobJson(job, isTerminal(job.state) ? await store.listFiles(id) : [], config);
    },
    async endedJob(ctx) {
      const job = await store.read(jobId(ctx), "auto", { resultLimit: 1 });
      if (!job) throw notFound();
      mayOpen(ctx, job);
      if (!isTerminal(job.state)) {
        throw new HttpError(
          409,
          `The results can be downloaded once the job has ended; it is ${phaseOf(job) === "cancelling" ? "stopping" : job.state}.`,
          {
            title: "No results yet",
          },
        );
      }
      return job;
    },
  };
}

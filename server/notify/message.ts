// What a person is told when a job ends: the same facts in a webhook's JSON
// body and in a short plain text email: the job's id, type, state, why it
// ended (for one that failed or was cancelled), how long it ran, when it
// ended, and its page's address.
import type { Params } from "../../jobs/core/fields.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import type { JobRecord } from "../../jobs/core/store.ts";
import { jobType } from "../../jobs/types/index.ts";
import { attemptEnd, titleOf } from "../job-words.ts";
import { ranFor } from "../job-times.ts";
import { jobUrl } from "../urls.ts";

/** What a message is made from: an ended job's record. */
export type EndedJob = Pick<JobRecord, "id" | "type" | "params" | "state" | "reason" | "startedAt" | "finishedAt">;

/** A webhook's body (JSON). */
export interface EndBody {
  event: "job.ended";
  id: string;
  type: string;
  state: JobRecord["state"];
  reason: JobRecord["reason"];
  /** How long it ran (ms): its last attempt's start to its end; null when it never started. */
  durationMs: number | null;
  finishedAt: string | null;
  /** The job's page. */
  url: string;
}

export interface EndMessage {
  body: EndBody;
  subject: string;
  text: string;
}

const STATE_WORDS: Record<string, string> = { succeeded: "succeeded", failed: "failed", cancelled: "was cancelled" };

/** The message of an ended job; baseUrl: the site's address (PUBLIC_URL), siteName: SITE_NAME. */
export function endMessage(job: EndedJob, types: readonly JobType[], baseUrl: string, siteName: string): EndMessage {
  const url = `${baseUrl}${jobUrl(job.id)}`;
  const durationMs = job.startedAt !== null && job.finishedAt !== null ? job.finishedAt - job.startedAt : null;
  const body: EndBody = {
    event: "job.ended",
    id: job.id,
    type: job.type,
    state: job.state,
    reason: job.reason,
    durationMs,
    finishedAt: job.finishedAt !== null ? new Date(job.finishedAt).toISOString() : null,
    url,
  };
  const type = jobType(job.type, types);
  const title = titleOf(type, job.params as Params);
  const how = STATE_WORDS[job.state] ?? job.state;
  const why = job.state === "failed" && job.reason ? `It ${attemptEnd(job.reason)}.` : null;
  const lines = [
    `Your job has ended: it ${how}.`,
    "",
    title,
    `Job ${job.id} (${job.type})`,
    durationMs === null ? "It never started." : `It ran for ${ranFor(durationMs)}.`,
    ...(why ? [why] : []),
    "",
    `See it at ${url}`,
    "",
    `You are told because this address was given when the job was submitted to ${siteName}.`,
  ];
  // A title is made from what was submitted: one line, whatever it holds.
  // eslint-disable-next-line no-control-regex
  const subject = `${siteName}: ${title}: ${how}`.replace(/[\u0000-\u001f\u007f]+/g, " ");
  return { body, subject, text: `${lines.join("\n")}\n` };
}

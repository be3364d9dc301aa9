// "Start this again" with the same file: a job's page links to its type's
// form filled in with its values and `from=<its id>` (urls.ts); while the
// job's upload is still kept (a job that failed keeps it as long as itself, a
// queued or running one until it ends: store/artifacts.ts), the form offers
// it again, a checkbox per file field, ticked: `<field>-reuse` = the earlier
// job's id. Sent without a new file, the upload is copied under the new
// job's id (a link on a disk store) and the new job takes it as if sent; a
// new file wins. Whoever may open a job's page (its address; with
// JOB_VISIBILITY=owner, only its person: identity.ts) may do this; it lets
// them run the same type on the same file, nothing more (the file itself is
// downloaded only by operators). Anyone else is told the file is not kept.
import { isUploadRef } from "../jobs/core/fields.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import { isJobId, type JobStore } from "../jobs/core/store.ts";
import type { ReceivedForm } from "./uploads.ts";

/** The field of a form that asks for an earlier job's file again: its value is that job's id. */
export function reuseField(field: string): string {
  return `${field}-reuse`;
}

export interface KeptFile {
  /** The earlier job. */
  from: string;
  /** Its upload's name, as the browser sent it, and size. */
  name: string;
  size: number;
}

/** Whether this reader may open that job (identity.ts, mayOpen). */
export type MayOpen = (job: { user: string | null }) => boolean;

/** The files of an earlier job of the same type that are still kept, by field; none for anything else, or a job this reader may not open. */
export async function keptFiles(store: JobStore, type: JobType, from: unknown, mayOpen: MayOpen): Promise<Record<string, KeptFile>> {
  if (typeof from !== "string" || !isJobId(from)) return {};
  const job = await store.read(from, "auto", { resultLimit: 1 });
  if (!job || job.type !== type.name || !mayOpen(job)) return {};
  const kept: Record<string, KeptFile> = {};
  for (const field of type.fields) {
    const ref = job.params[field.name];
    if (field.kind !== "file" || !isUploadRef(ref)) continue;
    if ((await store.uploadSize(from, field.name)) > 0) kept[field.name] = { from, name: ref.name, size: ref.size };
  }
  return kept;
}

/**
 * For each file field of a received form that got no file but asks for an
 * earlier job's (reuseField): copies that upload under the form's job id and
 * records it as sent, or an error when it is no longer kept. Returns the
 * earlier job's files still kept (a form sent back offers them again).
 */
export async function reuseKept(store: JobStore, type: JobType, form: ReceivedForm, mayOpen: MayOpen): Promise<Record<string, KeptFile>> {
  let offered: Record<string, KeptFile> = {};
  for (const field of type.fields) {
    if (field.kind !== "file" || form.files[field.name] || form.errors[field.name]) continue;
    const from = form.fields[reuseField(field.name)];
    if (typeof from !== "string" || from === "") continue;
    offered = await keptFiles(store, type, from, mayOpen);
    const kept = offered[field.name];
    if (!kept || !(await store.copyUploads(kept.from, form.id, [field.name]))) {
      form.errors[field.name] = "The file of the earlier job is no longer kept. Choose the file.";
      continue;
    }
    form.files[field.name] = { name: kept.name, size: kept.size };
    // The same earlier file, sent again under the same token, is the same request.
    form.digests[field.name] = `kept:${kept.from}`;
  }
  return offered;
}

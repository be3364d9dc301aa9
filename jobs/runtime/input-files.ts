// A command job's input files: the uploads of its type's file fields, copied
// from the store for its program (SIDEJOB_INPUT_<FIELD>, see command-line.ts).
import fs from "node:fs";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import type { JobType } from "../core/job-type.ts";
import { isUploadRef } from "../core/fields.ts";
import type { JobStore } from "../core/store.ts";
import { JobEnd } from "./kit.ts";

/**
 * The input files of a type's file fields, as field name -> path: with a
 * directory store (FILE_STORE_DIR), the stored file itself (read-only);
 * otherwise each upload is copied from Redis (GETRANGE, chunk by chunk, never
 * whole in memory) to `<dir>/input/<field>` (the field's name, never the
 * uploaded file's). An upload that is no longer stored fails the job,
 * spawn-failed.
 */
export async function inputFiles(
  store: Pick<JobStore, "uploadSize" | "readUpload" | "uploadPath">,
  id: string,
  type: JobType,
  params: Record<string, unknown>,
  dir: string,
): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const field of type.fields) {
    if (field.kind !== "file") continue;
    if (!isUploadRef(params[field.name])) {
      if (field.optional) continue;
      throw new JobEnd({ reason: "spawn-failed", detail: `The job has no file for its field ${field.name}.` });
    }
    if ((await store.uploadSize(id, field.name)) === 0) {
      throw new JobEnd({ reason: "spawn-failed", detail: `The file uploaded for ${field.name} is no longer stored.` });
    }
    const inPlace = store.uploadPath(id, field.name);
    if (inPlace !== null) {
      files[field.name] = inPlace;
      continue;
    }
    const folder = path.join(dir, "input");
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
    const file = path.join(folder, field.name);
    // One chunk at a time, written before the next is read. Each chunk is a
    // new Buffer outside V8's heap, which V8 collects only after tens of MB
    // of them: a collection every COPY_GC_BYTES keeps the runner's memory flat.
    const fd = fs.openSync(file, "wx", 0o600);
    try {
      let sinceGc = 0;
      for await (const chunk of store.readUpload(id, field.name)) {
        fs.writeSync(fd, chunk);
        sinceGc += chunk.length;
        if (sinceGc >= COPY_GC_BYTES) {
          sinceGc = 0;
          collectGarbage();
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    files[field.name] = file;
  }
  return files;
}

/** Bytes of an upload copied between two garbage collections. */
const COPY_GC_BYTES = 8 * 1024 * 1024;
let gc: (() => void) | null = null;

/** A full garbage collection (V8's gc(), exposed on first use). */
function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
}

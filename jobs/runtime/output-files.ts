// What a command job's program leaves in its output folder (SIDEJOB_OUTPUT_DIR),
// stored with the job as its files once the program has exited.
import fs from "node:fs";
import path from "node:path";
import type { JobContext } from "./kit.ts";
import { untilAccepted } from "./refused.ts";
import { FileStoreFullError } from "../core/store.ts";
import { JobEnd } from "./kit.ts";

/** At most this many output files per job. */
export const OUTPUT_MAX_FILES = 100;
/** An output file's name: plain, no folders. */
const OUTPUT_NAME = /^[\w.-]+$/;

/**
 * Stores each plain regular file of the output folder, within
 * JOB_OUTPUT_MAX_BYTES in all. They are stored with the job (until it
 * expires): in Redis, where this bounds one job's memory, or in FILE_STORE_DIR;
 * a file that would pass it is skipped, with a warning in the log.
 */
export async function storeOutputFiles(ctx: JobContext, dir: string, warn: (text: string) => void): Promise<void> {
  const { store } = ctx;
  const maxBytes = ctx.config.jobOutputMaxBytes;
  let total = 0;
  let files = 0;
  for (const name of fs.readdirSync(dir).sort()) {
    if (!OUTPUT_NAME.test(name) || name === "." || name === "..") {
      warn(`output file ${JSON.stringify(name.slice(0, 80))} skipped: its name may only hold letters, digits, '.', '_' and '-'`);
      continue;
    }
    let fd: number;
    try {
      // O_NOFOLLOW: a symbolic link is not followed out of the folder.
      fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      warn(`output file ${name} skipped: not a regular file`);
      continue;
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) {
        warn(`output file ${name} skipped: not a regular file`);
        continue;
      }
      if (files >= OUTPUT_MAX_FILES) {
        warn(`output file ${name} skipped: a job keeps at most ${OUTPUT_MAX_FILES} files`);
        continue;
      }
      if (total + stat.size > maxBytes) {
        warn(`output file ${name} skipped: ${stat.size} bytes would pass the ${maxBytes} bytes a job may keep (JOB_OUTPUT_MAX_BYTES)`);
        continue;
      }
      total += stat.size;
      files++;
      // Read through the descriptor opened above (its /proc link), never the name again: the file checked is the file stored.
      const stored = await untilAccepted(`job ${ctx.id}: output file ${name}`, () =>
        store.putFile(ctx.id, name, { path: `/proc/self/fd/${fd}` }),
      ).catch((err: unknown) => {
        if (err instanceof FileStoreFullError)
          throw new JobEnd({ reason: "job-error", error: `The output file ${name} could not be kept: the server's file store is full.` });
        throw err;
      });
      if (!stored) warn(`output file ${name} not stored: the job is no longer running`);
    } finally {
      fs.closeSync(fd);
    }
  }
}

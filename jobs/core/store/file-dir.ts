// The directory file store (FILE_STORE_DIR): a job's uploads, output files
// and whole log kept as plain files on a disk (local, or a mount every
// instance shares, such as NFS), with Redis holding only what says they
// exist. Without FILE_STORE_DIR they live in Redis (artifacts.ts).
//
// Layout, under <FILE_STORE_DIR>/<REDIS_PREFIX>/ (the only place a path is
// built; ids and names are checked before they become one):
//   <id>/uploads/<field>  the file uploaded for a field, as sent (mode 0400 once stored)
//   <id>/files/<name>     an output file
//   <id>/log              the whole log, as the job wrote it (JOB_LOG_MAX_BYTES at most)
// What Redis holds instead, under the same keys (keys.ts):
//   P:{T}:job:<id>:upload:<field>  string "file": the upload is stored (its
//     TTL is the upload's, then the job's, exactly as in the Redis store; the
//     create script checks it exists)
//   P:{T}:job:<id>:files           hash: file name -> its size in bytes
// The bytes are written first and the key after, except for an upload, whose
// key comes first (its TTL keeps a file being written from the sweep).
//
// Nothing expires on a disk: sweep() removes what Redis no longer names. A
// job folder goes when neither the job's record nor any of its upload keys
// exists (the job expired or was deleted, or its upload was refused, stalled
// or cut off by a server that died): an upload's key lives UPLOAD_SAFETY_TTL_S
// past its last chunk, so a folder left by a killed server goes within that
// and a sweep. Within a job that exists, an upload whose key is gone (the
// job succeeded: the Redis store deletes those at once) and an output file
// its files hash does not list (a retried attempt's, or one whose job was no
// longer running) are removed too. Every instance sweeps (server/supervisor):
// removing what is gone already is harmless.
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { StoreCore } from "./core.ts";
import { FileStoreFullError, FileStoreUnavailableError } from "./errors.ts";
import type { FileEntry } from "./record.ts";
import { isJobId } from "./record.ts";

/** How often, at most, the key of an upload that keeps arriving has its TTL renewed. */
const TOUCH_EVERY_MS = 10_000;
/** An output file its hash does not list is left this long (it may be on its way in) before the sweep removes it. */
const UNLISTED_GRACE_MS = 60_000;
/** Job folders checked at once by a sweep. */
const SWEEP_BATCH = 100;
const NAME = /^[\w.-]+$/;

/** An fs error as the store's: a full disk (507), anything else the store out of reach (503). */
function storeError(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOSPC" || code === "EDQUOT" ? new FileStoreFullError(err) : new FileStoreUnavailableError(err);
}

async function io<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw storeError(err);
  }
}

/** How many line ends (LF) `bytes` holds. */
function lineEnds(bytes: Buffer): number {
  let n = 0;
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) n++;
  return n;
}

const missing = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";

export class FileDirectory {
  /** The folder of this deployment's jobs: FILE_STORE_DIR/REDIS_PREFIX. */
  readonly root: string;
  /** When each upload in progress last had its key's TTL renewed, by key. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly core: StoreCore,
    dir: string,
    /** How long an upload's key lives past its last chunk while its job does not exist. */
    private readonly uploadTtlS: number,
  ) {
    this.root = path.join(dir, core.keys.prefix);
  }

  jobDir(id: string): string {
    if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    return path.join(this.root, id);
  }

  uploadPath(id: string, field: string): string {
    this.core.keys.upload(id, field); // checks the field's name
    return path.join(this.jobDir(id), "uploads", field);
  }

  filePath(id: string, name: string): string {
    if (!NAME.test(name) || name === "." || name === "..") throw new Error(`not a file name: ${JSON.stringify(name)}`);
    return path.join(this.jobDir(id), "files", name);
  }

  logPath(id: string): string {
    return path.join(this.jobDir(id), "log");
  }

  // --- Uploads

  /** Writes a chunk at its offset (`at`, else at the end): sent again, it writes the same bytes in the same place. */
  async appendUpload(id: string, field: string, chunk: Buffer | readonly Buffer[], at?: number): Promise<number> {
    const pieces = Buffer.isBuffer(chunk) ? [chunk] : chunk;
    const length = pieces.reduce((n, piece) => n + piece.length, 0);
    const key = this.core.keys.upload(id, field);
    const file = this.uploadPath(id, field);
    const now = Date.now();
    if (at === 0 || at === undefined || now - (this.touched.get(key) ?? 0) >= TOUCH_EVERY_MS) {
      await this.core.call((r) => r.set(key, "file", "EX", this.uploadTtlS));
      this.touch(key, now);
    }
    return io(async () => {
      if (!at) await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      // Written at its offset ("r+": O_APPEND would ignore the offset); the first chunk starts the file anew.
      const handle = await fsp.open(file, at === 0 ? "w" : at === undefined ? "a" : "r+", 0o600);
      try {
        const offset = at ?? (await handle.stat()).size;
        const { bytesWritten } = await handle.writev(pieces, at === undefined ? undefined : offset);
        // A short write (a disk filling up): the rest, which writes or says why not (ENOSPC).
        if (bytesWritten < length) {
          const rest = Buffer.concat(pieces, length).subarray(bytesWritten);
          for (let done = 0; done < rest.length;) {
            done += (await handle.write(rest, done, rest.length - done, at === undefined ? null : offset + bytesWritten + done))
              .bytesWritten;
          }
        }
        return offset + length;
      } finally {
        await handle.close();
      }
    });
  }

  private touch(key: string, now: number): void {
    this.touched.set(key, now);
    if (this.touched.size > 10_000) {
      for (const [k, at] of this.touched) if (now - at > this.uploadTtlS * 1000) this.touched.delete(k);
    }
  }

  async uploadSize(id: string, field: string): Promise<number> {
    return this.size(this.uploadPath(id, field));
  }

  async readUploadRange(id: string, field: string, start: number, end: number): Promise<Buffer> {
    return (await this.readRange(this.uploadPath(id, field), start, end)) ?? Buffer.alloc(0);
  }

  async deleteUploads(id: string, fields: readonly string[]): Promise<void> {
    if (fields.length === 0) return;
    for (const field of fields) {
      this.touched.delete(this.core.keys.upload(id, field));
      await io(() => fsp.rm(this.uploadPath(id, field), { force: true }));
    }
    // The folders too, when nothing else is in them (a job that was never created).
    for (const folder of [path.join(this.jobDir(id), "uploads"), this.jobDir(id)]) await fsp.rmdir(folder).catch(() => {});
    await this.core.call((r) => r.del(...fields.map((f) => this.core.keys.upload(id, f))));
  }

  /** Copies a job's uploads to a new job's (a retry, or a form that asks for the same file); false when one of them is gone. */
  async copyUploads(fromId: string, toId: string, fields: readonly string[]): Promise<boolean> {
    for (const field of fields) {
      const key = this.core.keys.upload(toId, field);
      const stored = (await this.core.call((r) => r.exists(this.core.keys.upload(fromId, field)))) === 1;
      await this.core.call((r) => r.set(key, "file", "EX", this.uploadTtlS));
      const to = this.uploadPath(toId, field);
      const copied =
        stored &&
        (await io(async () => {
          await fsp.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
          try {
            // A stored upload never changes (it is read-only): the copy is a link to the same bytes.
            await fsp.rm(to, { force: true });
            await fsp
              .link(this.uploadPath(fromId, field), to)
              .catch(() => fsp.copyFile(this.uploadPath(fromId, field), to, fs.constants.COPYFILE_FICLONE));
            return true;
          } catch (err) {
            if (missing(err)) return false;
            throw err;
          }
        }));
      if (!copied) {
        await this.deleteUploads(toId, fields);
        return false;
      }
    }
    return true;
  }

  /** An upload is stored whole: its file becomes read-only (a program is handed it as it is). */
  async sealUpload(id: string, field: string): Promise<void> {
    this.touched.delete(this.core.keys.upload(id, field));
    await io(() => fsp.chmod(this.uploadPath(id, field), 0o400));
  }

  // --- Output files

  /**
   * Copies an output file into the store (a reflink where the disk can), then
   * lists it with its size (file-2.lua, fenced: only while the job runs); a
   * file the fence refuses is removed. false when it was refused.
   */
  async putFile(id: string, name: string, source: Buffer | { path: string }): Promise<boolean> {
    const file = this.filePath(id, name);
    const size = await io(async () => {
      await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const part = `${file}.part-${process.pid}`;
      if (Buffer.isBuffer(source)) await fsp.writeFile(part, source, { mode: 0o600 });
      else await fsp.copyFile(source.path, part, fs.constants.COPYFILE_FICLONE);
      await fsp.rename(part, file);
      return (await fsp.stat(file)).size;
    });
    const listed = (await this.core.call((r) => r.sjFile(this.core.keys.job(id), this.core.keys.files(id), name, String(size)))) === 1;
    if (!listed) await fsp.rm(file, { force: true });
    return listed;
  }

  async listFiles(id: string): Promise<FileEntry[]> {
    const sizes = await this.core.call((r) => r.hgetall(this.core.keys.files(id)));
    return Object.keys(sizes)
      .sort()
      .map((name) => ({ name, size: Number(sizes[name]) }));
  }

  async readFileRange(id: string, name: string, start: number, end: number): Promise<Buffer | null> {
    if ((await this.core.call((r) => r.hexists(this.core.keys.files(id), name))) !== 1) return null;
    return this.readRange(this.filePath(id, name), start, end);
  }

  async readFile(id: string, name: string): Promise<Buffer | null> {
    if ((await this.core.call((r) => r.hexists(this.core.keys.files(id), name))) !== 1) return null;
    return io(async () => {
      try {
        return await fsp.readFile(this.filePath(id, name));
      } catch (err) {
        if (missing(err)) return null;
        throw err;
      }
    });
  }

  // --- The whole log

  /**
   * Appends to the whole log, up to maxBytes; what passes it is dropped and
   * `marker` written once in its place. Nothing is written for a job that
   * does not exist. Then the job's record counts the lines and bytes written
   * (lua/log-noted-1.lua): that change tells the pages to read its last
   * lines again (logTail). Returns whether the job exists.
   */
  async appendLog(id: string, text: Buffer, maxBytes: number, marker: string): Promise<boolean> {
    if ((await this.core.call((r) => r.exists(this.core.keys.job(id)))) !== 1) return false;
    const file = this.logPath(id);
    const written = await io(async () => {
      await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const handle = await fsp.open(file, "a", 0o600);
      try {
        const size = (await handle.stat()).size;
        if (size >= maxBytes) return null; // cut already: the marker is there
        const bytes = size + text.length <= maxBytes ? text : Buffer.concat([text.subarray(0, maxBytes - size), Buffer.from(marker)]);
        await handle.write(bytes);
        return bytes;
      } finally {
        await handle.close();
      }
    });
    if (!written) return true;
    return (
      (await this.core.call((r) =>
        r.sjLogNoted(this.core.keys.job(id), lineEnds(written), written.length, written.at(-1) === 0x0a ? 0 : 1),
      )) === 1
    );
  }

  /**
   * The log's last `count` lines (a last line not ended yet among them), each
   * cut at `maxChars`, read from its end: at most `count` lines of
   * `maxChars` characters of UTF-8, so a log of any size costs one short read.
   */
  async logTail(id: string, count: number, maxChars: number): Promise<string[]> {
    const size = await this.logSize(id);
    if (size === 0 || count <= 0) return [];
    const bytes = Math.min(size, count * (4 * maxChars + 1) + 1);
    const tail = await this.readRange(this.logPath(id), size - bytes, size - 1);
    if (!tail) return [];
    const lines = tail.toString("utf8").split("\n");
    // The last piece is "" after a line end; the first may be a line's end only (the read began within it).
    if (lines.at(-1) === "") lines.pop();
    if (bytes < size && lines.length > 1) lines.shift();
    return lines.slice(-count).map((line) => {
      const text = line.endsWith("\r") ? line.slice(0, -1) : line;
      return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
    });
  }

  async logSize(id: string): Promise<number> {
    return this.size(this.logPath(id));
  }

  async readLogRange(id: string, start: number, end: number): Promise<Buffer> {
    return (await this.readRange(this.logPath(id), start, end)) ?? Buffer.alloc(0);
  }

  // --- Removing what Redis no longer names

  /** Removes a job's folder (its record was deleted). */
  async removeJob(id: string): Promise<void> {
    await io(() => fsp.rm(this.jobDir(id), { recursive: true, force: true }));
  }

  /** One sweep of the whole folder (see the header); the job folders and the files removed. */
  async sweep(now = Date.now()): Promise<{ folders: number; files: number }> {
    let names: string[];
    try {
      names = await fsp.readdir(this.root);
    } catch (err) {
      if (missing(err)) return { folders: 0, files: 0 };
      throw storeError(err);
    }
    const removed = { folders: 0, files: 0 };
    const ids = names.filter((n) => isJobId(n));
    for (let i = 0; i < ids.length; i += SWEEP_BATCH) {
      await Promise.all(ids.slice(i, i + SWEEP_BATCH).map((id) => this.sweepJob(id, now, removed)));
    }
    return removed;
  }

  private async sweepJob(id: string, now: number, removed: { folders: number; files: number }): Promise<void> {
    const dir = this.jobDir(id);
    const list = async (sub: string): Promise<string[]> => {
      try {
        return await fsp.readdir(path.join(dir, sub));
      } catch (err) {
        if (missing(err)) return [];
        throw err;
      }
    };
    const [uploads, files] = await Promise.all([list("uploads"), list("files")]);
    const fields = uploads.filter((f) => NAME.test(f));
    const { keys } = this.core;
    const [jobExists, uploadKeys, listed] = await Promise.all([
      this.core.call((r) => r.exists(keys.job(id))),
      Promise.all(fields.map((f) => this.core.call((r) => r.exists(keys.upload(id, f))))),
      files.length > 0 ? this.core.call((r) => r.hkeys(keys.files(id))) : Promise.resolve([]),
    ]);
    if (jobExists !== 1 && !uploadKeys.some((n) => n === 1)) {
      await fsp.rm(dir, { recursive: true, force: true });
      removed.folders++;
      return;
    }
    for (const [i, field] of fields.entries()) {
      if (uploadKeys[i] === 1) continue;
      await fsp.rm(path.join(dir, "uploads", field), { force: true });
      removed.files++;
    }
    const kept = new Set(listed);
    for (const name of files) {
      if (kept.has(name)) continue;
      const file = path.join(dir, "files", name);
      const stat = await fsp.stat(file).catch(() => null);
      if (stat && now - stat.mtimeMs < UNLISTED_GRACE_MS) continue;
      await fsp.rm(file, { force: true });
      removed.files++;
    }
  }

  // --- Reading

  private async size(file: string): Promise<number> {
    return io(async () => {
      try {
        return (await fsp.stat(file)).size;
      } catch (err) {
        if (missing(err)) return 0;
        throw err;
      }
    });
  }

  /** Bytes start..end (inclusive) of a file, fewer past its end; null when there is no such file. */
  private async readRange(file: string, start: number, end: number): Promise<Buffer | null> {
    return io(async () => {
      let handle;
      try {
        handle = await fsp.open(file, "r");
      } catch (err) {
        if (missing(err)) return null;
        throw err;
      }
      try {
        const buffer = Buffer.alloc(Math.max(0, end - start + 1));
        let read = 0;
        while (read < buffer.length) {
          const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
          if (bytesRead === 0) break;
          read += bytesRead;
        }
        return buffer.subarray(0, read);
      } finally {
        await handle.close();
      }
    });
  }
}

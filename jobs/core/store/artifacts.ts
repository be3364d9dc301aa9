// What a job carries beside its record, in Redis: the files uploaded with it,
// its log (the last lines, and the whole of it) and its output files. With
// FILE_STORE_DIR, the uploads, the whole log and the output files are files
// on a disk instead (file-dir.ts), and only the last lines are kept here.
//
// An upload is written before its job exists, with UPLOAD_SAFETY_TTL_S
// renewed at each chunk (a request that dies halfway leaves nothing for
// long); creating the job takes that TTL away, and the job's end gives it the
// job's (lua/includes/finish.lua), as it does to the log and the files.
import fsp from "node:fs/promises";
import type { Result } from "ioredis";
import type { StoreCore } from "./core.ts";
import type { FileEntry } from "./record.ts";

/** Lines of a job's log kept in Redis, and the longest line (longer ones are cut). */
export const LOG_MAX_LINES = 1000;
export const LOG_LINE_MAX_CHARS = 256;

/** How long an upload is kept, from its last chunk, while its job does not exist yet. */
export const UPLOAD_SAFETY_TTL_S = 600;
/** Chunks an upload is read back in (GETRANGE), so nothing holds it whole. */
export const UPLOAD_READ_BYTES = 64 * 1024;

// An output file's bytes are read as bytes: ioredis defines a Buffer form of
// every command it is given (lua/commands.ts declares the scripts' own forms).
declare module "ioredis" {
  interface RedisCommander<Context> {
    sjFileRangeBuffer(files: string, name: string, start: number, end: number): Result<Buffer | null, Context>;
  }
}

// --- Uploads

/**
 * Appends a chunk of an upload. With `at` (the upload's size before the
 * chunk), the write may be sent again after an answer that came too late:
 * a chunk already there is not appended twice (upload-append-1.lua); -1 when
 * the upload's size is neither.
 */
export async function appendUpload(core: StoreCore, id: string, field: string, chunk: Buffer, at?: number): Promise<number> {
  const key = core.keys.upload(id, field);
  if (at !== undefined) return core.call((r) => r.sjUploadAppend(key, at, chunk, UPLOAD_SAFETY_TTL_S));
  const replies = await core.call((r) => r.multi().append(key, chunk).expire(key, UPLOAD_SAFETY_TTL_S).exec());
  const [err, size] = replies?.[0] ?? [new Error("the upload's transaction was discarded"), 0];
  if (err) throw err;
  return Number(size);
}

export async function uploadSize(core: StoreCore, id: string, field: string): Promise<number> {
  return core.call((r) => r.strlen(core.keys.upload(id, field)));
}

export async function readUploadRange(core: StoreCore, id: string, field: string, start: number, end: number): Promise<Buffer> {
  return core.call((r) => r.getrangeBuffer(core.keys.upload(id, field), start, end));
}

export async function deleteUploads(core: StoreCore, id: string, fields: readonly string[]): Promise<void> {
  if (fields.length === 0) return;
  const keys = fields.map((f) => core.keys.upload(id, f));
  await core.call((r) => r.del(...keys));
}

export async function copyUploads(core: StoreCore, fromId: string, toId: string, fields: readonly string[]): Promise<boolean> {
  const { keys } = core;
  // COPY works within one Redis Cluster slot: between partitions, the bytes go through here, a chunk at a time.
  const samePartition = keys.partition(fromId) === keys.partition(toId);
  for (const field of fields) {
    const from = keys.upload(fromId, field);
    const to = keys.upload(toId, field);
    const copied = samePartition
      ? (await core.call((r) => r.copy(from, to, "REPLACE"))) === 1
      : await copyThrough(core, fromId, toId, field);
    if (!copied) {
      await deleteUploads(core, toId, fields);
      return false;
    }
    // The copy keeps the old job's TTL; give it the safety TTL until its job is created (create persists it).
    await core.call((r) => r.expire(to, UPLOAD_SAFETY_TTL_S));
  }
  return true;
}

/** Copies an upload to another job's key through this process; false when it is gone. */
async function copyThrough(core: StoreCore, fromId: string, toId: string, field: string): Promise<boolean> {
  const size = await uploadSize(core, fromId, field);
  if (size === 0) return false;
  for (let at = 0; at < size; at += COPY_CHUNK_BYTES) {
    const chunk = await readUploadRange(core, fromId, field, at, Math.min(size, at + COPY_CHUNK_BYTES) - 1);
    if (chunk.length === 0) return false;
    await appendUpload(core, toId, field, chunk, at);
  }
  return true;
}

/** Bytes of an upload copied at once between partitions. */
const COPY_CHUNK_BYTES = 1024 * 1024;

// --- The log

export async function appendLog(core: StoreCore, id: string, lines: readonly string[]): Promise<boolean> {
  if (lines.length === 0) return true;
  const cut = lines.map((line) => (line.length > LOG_LINE_MAX_CHARS ? `${line.slice(0, LOG_LINE_MAX_CHARS - 1)}…` : line));
  return (await core.call((r) => r.sjLog(core.keys.job(id), core.keys.log(id), LOG_MAX_LINES, ...cut))) === 1;
}

export async function readLog(core: StoreCore, id: string): Promise<string[]> {
  return core.call((r) => r.lrange(core.keys.log(id), 0, -1));
}

/** The line that stands where a whole log was cut, at maxBytes (JOB_LOG_MAX_BYTES). */
export function logCutMarker(maxBytes: number): string {
  return `\n[the log was cut here: it reached JOB_LOG_MAX_BYTES, ${maxBytes} bytes]\n`;
}

/** Appends to the whole log, up to maxBytes (then `marker`, once); false when the job does not exist. */
export async function appendFullLog(core: StoreCore, id: string, text: Buffer, maxBytes: number, marker: string): Promise<boolean> {
  return (await core.call((r) => r.sjLogAll(core.keys.job(id), core.keys.fullLog(id), maxBytes, text, marker))) === 1;
}

export async function fullLogSize(core: StoreCore, id: string): Promise<number> {
  return core.call((r) => r.strlen(core.keys.fullLog(id)));
}

export async function readFullLogRange(core: StoreCore, id: string, start: number, end: number): Promise<Buffer> {
  return core.call((r) => r.getrangeBuffer(core.keys.fullLog(id), start, end));
}

// --- Output files

/** Stores an output file, given or read whole from a file (JOB_OUTPUT_MAX_BYTES bounds it); false when the job is not running. */
export async function putFile(core: StoreCore, id: string, name: string, source: Buffer | { path: string }): Promise<boolean> {
  const content = Buffer.isBuffer(source) ? source : await fsp.readFile(source.path);
  return (await core.call((r) => r.sjFile(core.keys.job(id), core.keys.files(id), name, content))) === 1;
}

export async function listFiles(core: StoreCore, id: string): Promise<FileEntry[]> {
  const names = (await core.call((r) => r.hkeys(core.keys.files(id)))).sort();
  const sizes = names.length ? await core.call((r) => Promise.all(names.map((n) => r.hstrlen(core.keys.files(id), n)))) : [];
  return names.map((name, i) => ({ name, size: sizes[i] ?? 0 }));
}

/** Bytes start..end (inclusive) of an output file (fewer past its end), or null when there is no such file. */
export async function readFileRange(core: StoreCore, id: string, name: string, start: number, end: number): Promise<Buffer | null> {
  return core.call((r) => r.sjFileRangeBuffer(core.keys.files(id), name, start, end));
}

export async function readFile(core: StoreCore, id: string, name: string): Promise<Buffer | null> {
  return core.call((r) => r.hgetBuffer(core.keys.files(id), name));
}

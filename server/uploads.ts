// Uploads: a multipart/form-data form read as a stream (busboy), its files
// stored under the job's own keys as they arrive (in Redis, or in
// FILE_STORE_DIR: jobs/core/store/file-dir.ts), never whole in this
// process's memory. Redis is the only thing the instances share, so the
// job may run on another instance than the one that took the upload.
//
// The route calls receiveForm() with a way to choose the job's id, then
// creates the job with that id and the stored fields (store.create's
// `uploads`), or discards them (discardUploads) when it refuses the form or
// its submit key names a job already. The id is chosen when the first file
// arrives, from the fields read so far (a form's submission token comes
// before its files: the id must lie in the token's partition), or at the
// end when no file was stored.
// Every refusal here (413, 400) has already deleted what was stored, and so
// has an upload cut off (the client went away) or stalled: an upload has no
// whole-request deadline (it may take hours on a slow link), but once no byte
// has arrived for UPLOAD_IDLE_TIMEOUT_MS it is stopped. Either way the handler
// ends at once with a 408 (and its request log line, saying why).
//
// A file is refused when it is empty, and, for a field that declares `text`,
// when it is not text: a NUL byte anywhere, or bytes that are not UTF-8 in
// its first TEXT_CHECK_BYTES; in the field's own words (its `refusals`) where
// it has them. Any other field takes any bytes (binary, compressed). The name the
// browser sent is kept only to be shown (the templates escape it); it never
// becomes a path.
import busboy from "busboy";
import crypto from "node:crypto";
import type { Context } from "koa";
import type { Readable } from "node:stream";
import type { FileField, UploadRef } from "../jobs/core/fields.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { FileStoreFullError, StoreUnavailableError, StoreWriteRefusedError, type JobStore } from "../jobs/core/store.ts";
import { HttpError } from "./errors.ts";
import { liftRequestDeadline } from "./http-server.ts";
import { formatSize } from "./format-size.ts";

export { formatSize };

/** Bytes written to Redis at once (one APPEND), and to a file of FILE_STORE_DIR (one write: fewer, larger writes are faster there). */
export const UPLOAD_CHUNK_BYTES = 64 * 1024;
export const UPLOAD_FILE_CHUNK_BYTES = 512 * 1024;
/** The start of a file that must be valid UTF-8. */
export const TEXT_CHECK_BYTES = 64 * 1024;
/** What a form may hold besides its files: field values, part headers, boundaries. */
const FORM_OVERHEAD_BYTES = 1024 * 1024;
/** The longest text field value read from a multipart form. */
const FIELD_MAX_BYTES = 100_000;
/** The longest file name kept for display. */
const NAME_MAX_CHARS = 200;

export interface ReceivedForm {
  /** The form's other fields, as sent (a repeated one as a list: the checks refuse it). */
  fields: Record<string, string | string[]>;
  /** The stored uploads, by field. */
  files: Record<string, UploadRef>;
  /** A message per file field whose file was refused (and not kept). */
  errors: Record<string, string>;
  /** The SHA-256 (hex) of each stored upload's bytes: part of the request's fingerprint. */
  digests: Record<string, string>;
  /** The id the job will have, its uploads stored under it. */
  id: string;
}

export interface ReceiveOptions {
  store: JobStore;
  /** Chooses the id the job will have (its uploads are stored under it), given the fields read so far; called once. */
  chooseId: (fieldsSoFar: Readonly<Record<string, string | string[]>>) => string;
  type: JobType;
  maxBytes: number;
  /** UPLOAD_IDLE_TIMEOUT_MS: with no byte for this long, the upload is stopped (408) and nothing kept. */
  idleMs: number;
}

/** The words a refused file is told, by default: a field's `refusals` may say them for its type. */
const REFUSALS: Required<NonNullable<FileField["refusals"]>> = {
  empty: "The file {name} is empty. Choose a file with something in it.",
  notText: "The file {name} is not a text file (it holds NUL bytes). Choose a text file.",
  notUtf8: "The file {name} is not UTF-8 text. Save it as UTF-8 and upload it again.",
};

function refusal(field: FileField, why: keyof typeof REFUSALS, name: string): string {
  return (field.refusals?.[why] ?? REFUSALS[why]).replaceAll("{name}", name);
}

/** The names of a type's file fields. */
export function fileFields(type: JobType): string[] {
  return type.fields.filter((f) => f.kind === "file").map((f) => f.name);
}

/** Deletes whatever was stored for a job that will not be created. */
export async function discardUploads(store: JobStore, id: string, type: JobType): Promise<void> {
  await store.deleteUploads(id, fileFields(type));
}

/** The name to show for an upload: the last part of what the browser sent, without control characters. */
export function displayName(sent: string | undefined): string {
  const base = (sent ?? "").split(/[\\/]/).pop() ?? "";
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  return clean === "" ? "upload" : [...clean].slice(0, NAME_MAX_CHARS).join("");
}

/** A file over the limit; `fields`: the form's other answers read before it (a page answers with the form, keeping them). */
export class TooLargeError extends HttpError {
  constructor(
    maxBytes: number,
    readonly fields: Readonly<Record<string, string | string[]>> = {},
  ) {
    super(413, `The file is larger than the limit of ${formatSize(maxBytes)}.`, {
      title: "File too large",
      detail: [`Nothing was kept. Files of up to ${formatSize(maxBytes)} can be checked: split a larger one, or check a part of it.`],
      code: "too-large",
      // The rest of the request is not read.
      headers: { Connection: "close" },
    });
  }
}

export function tooLarge(maxBytes: number, fields?: Readonly<Record<string, string | string[]>>): TooLargeError {
  return new TooLargeError(maxBytes, fields);
}

/** The request ended before its body did: the client went away. */
export function uploadCutOff(): HttpError {
  return new HttpError(408, "The upload stopped before the whole file arrived, so nothing was kept. Please send it again.", {
    title: "Upload cut off",
    code: "upload-cut-off",
    logNote: "upload cut off before its end, nothing kept",
  });
}

/** No byte of the upload arrived for idleMs: it is stopped, the rest of the request not read. */
export function uploadStalled(idleMs: number, received: number): HttpError {
  const seconds = `${Number((idleMs / 1000).toFixed(1)).toLocaleString("en-GB")} s`;
  return new HttpError(408, `Nothing more of the file arrived for ${seconds}, so the upload was stopped and nothing was kept.`, {
    title: "Upload stopped",
    detail: ["Check the connection, then choose the file and send the form again."],
    code: "upload-stalled",
    headers: { Connection: "close" },
    logNote: `upload stalled: no byte for ${seconds} after ${formatSize(received)}, stopped, nothing kept`,
  });
}

function unreadableForm(): HttpError {
  return new HttpError(400, "The form could not be read: send it as multipart/form-data, as the page's form does.", { code: "unreadable" });
}

/**
 * Reads a multipart form, storing each declared file field's file in Redis
 * as it arrives. Throws a 413 (a file over maxBytes, or a request that could
 * not fit), a 400 (a malformed form) or the store's error, having deleted
 * what was stored; otherwise the caller owns the stored uploads.
 */
export async function receiveForm(ctx: Context, { store, chooseId, type, maxBytes, idleMs }: ReceiveOptions): Promise<ReceivedForm> {
  const wanted = new Set(fileFields(type));
  const declarations = new Map(type.fields.flatMap((f) => (f.kind === "file" ? [[f.name, f] as const] : [])));
  const declared = Number(ctx.get("Content-Length"));
  if (Number.isFinite(declared) && declared > maxBytes * wanted.size + FORM_OVERHEAD_BYTES) throw tooLarge(maxBytes);

  const form: Omit<ReceivedForm, "id"> = { fields: {}, files: {}, errors: {}, digests: {} };
  let chosen: string | null = null;
  const jobId = (): string => (chosen ??= chooseId(form.fields));
  /** Deletes what was stored, if anything was. */
  const deleteStored = async (fields: string[]): Promise<void> => {
    if (chosen !== null) await store.deleteUploads(chosen, fields);
  };
  const tasks: Promise<void>[] = [];
  const streams = new Set<Readable>();
  let overLimit = false;
  let failure: unknown = null;
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: ctx.req.headers,
      defParamCharset: "utf8",
      limits: { fileSize: maxBytes, files: wanted.size, fields: 50, parts: 100, fieldSize: FIELD_MAX_BYTES, headerPairs: 50 },
    });
  } catch {
    throw unreadableForm();
  }
  // However long the upload takes, as long as bytes keep coming (the watchdog below).
  liftRequestDeadline(ctx.req, idleMs);

  const chunkBytes = store.fileDir ? UPLOAD_FILE_CHUNK_BYTES : UPLOAD_CHUNK_BYTES;
  const storeFile = async (field: string, stream: Readable, sentName: string | undefined): Promise<void> => {
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    /** The bytes of this file stored so far. */
    let stored = 0;
    let refused: string | null = null;
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const digest = crypto.createHash("sha256");
    const id = jobId();
    const name = displayName(sentName);
    const declared = declarations.get(field)!;
    const text = declared.text === true;
    stream.on("limit", () => {
      overLimit = true;
    });
    const flush = async () => {
      if (pendingBytes === 0) return;
      // A file on a disk takes the pieces as they came (one writev): no copy into a new buffer, less for the GC.
      const chunk = store.fileDir ? pending : Buffer.concat(pending, pendingBytes);
      const bytes = pendingBytes;
      pending = [];
      pendingBytes = 0;
      await writeChunk(store, id, field, chunk, bytes, stored, idleMs);
      stored += bytes;
    };
    // One write in flight while the next chunk is read; iterating the stream waits for the one
    // before it: busboy, and the request, wait for us, with two chunks held at most.
    let writing: Promise<void> = Promise.resolve();
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (refused || overLimit || failure) continue; // read to its end, keep nothing
      if (text && size < TEXT_CHECK_BYTES) {
        try {
          decoder.decode(chunk.subarray(0, TEXT_CHECK_BYTES - size), { stream: true });
        } catch {
          refused = refusal(declared, "notUtf8", name);
        }
      }
      if (text && chunk.includes(0)) refused = refusal(declared, "notText", name);
      size += chunk.length;
      if (refused) continue;
      digest.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= chunkBytes) {
        await writing;
        if (failure) continue;
        writing = flush().catch((err: unknown) => {
          failure = err;
        });
      }
    }
    await writing;
    if (overLimit || failure) return;
    if (text && !refused && size > 0 && size <= TEXT_CHECK_BYTES) {
      try {
        decoder.decode(); // a character cut off at the very end
      } catch {
        refused = refusal(declared, "notUtf8", name);
      }
    }
    if (size === 0 && !refused) refused = refusal(declared, "empty", name);
    if (refused) {
      form.errors[field] = refused;
      await store.deleteUploads(id, [field]);
      return;
    }
    await flush();
    await store.uploadStored(id, field);
    form.files[field] = { name, size };
    form.digests[field] = digest.digest("hex");
  };

  const started = new Set<string>();
  parser.on("file", (field, stream, info) => {
    // Another field's part, a second file for a field, or no file chosen (browsers send an empty part without a name): not kept.
    if (!wanted.has(field) || started.has(field) || !info.filename) {
      stream.resume();
      return;
    }
    started.add(field);
    streams.add(stream);
    tasks.push(
      storeFile(field, stream, info.filename).catch((err: unknown) => {
        failure = err;
        stream.resume();
      }),
    );
  });
  parser.on("field", (field, value, info) => {
    if (info.valueTruncated) {
      failure = new HttpError(413, `The field ${field} is longer than ${formatSize(FIELD_MAX_BYTES)}.`, { code: "too-large" });
      return;
    }
    const before = form.fields[field];
    form.fields[field] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
  });

  try {
    await pipeBody(ctx, parser, idleMs);
    await Promise.all(tasks);
  } catch (err) {
    ctx.req.unpipe(parser);
    // Ends each file's stream, so its task stops after the write in flight.
    for (const stream of streams) stream.destroy();
    parser.destroy();
    await Promise.allSettled(tasks);
    await deleteStored([...wanted]).catch(() => {});
    if (err instanceof HttpError && err.options.code === "upload-stalled") throw err;
    // Whichever error came first (busboy's "unexpected end", the request's "aborted"), the body was cut off.
    if (!ctx.req.complete) throw uploadCutOff();
    if (err instanceof HttpError) throw err;
    if (err instanceof StoreUnavailableError || err instanceof FileStoreFullError) throw err;
    throw unreadableForm();
  }
  if (overLimit || failure) {
    await deleteStored([...wanted]).catch(() => {});
    if (overLimit) throw tooLarge(maxBytes, form.fields);
    throw failure;
  }
  return { ...form, id: jobId() };
}

/** Between two tries of a chunk write that Redis did not answer in time. */
export const UPLOAD_RETRY_MS = 250;

/**
 * Writes one chunk of an upload at its offset. A write Redis did not answer
 * within the web's deadline (a slow or busy Redis, which may have run it
 * all the same) is sent again, for up to budgetMs (the upload's idle
 * timeout: while it waits the request is paused, and the client's silence
 * is not counted): a chunk already there is not appended twice
 * (upload-append-1.lua). A refused write (Redis out of memory) is not
 * retried.
 */
async function writeChunk(
  store: JobStore,
  id: string,
  field: string,
  chunk: Buffer | readonly Buffer[],
  bytes: number,
  at: number,
  budgetMs: number,
): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      const size = await store.appendUpload(id, field, chunk, at);
      if (size !== at + bytes) throw new Error(`the upload ${id}/${field} holds ${size} bytes where ${at + bytes} were written`);
      return;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || err instanceof StoreWriteRefusedError || Date.now() >= deadline) throw err;
      await sleep(UPLOAD_RETRY_MS);
    }
  }
}

/**
 * Pipes the request's body into the parser. Resolves when the parser has
 * read it all; rejects when the client sends nothing for idleMs (408), the
 * body is cut off (the client went away, or the request timeout), or the
 * parser fails.
 */
function pipeBody(ctx: Context, parser: busboy.Busboy, idleMs: number): Promise<void> {
  let watchdog: NodeJS.Timeout | undefined;
  return new Promise<void>((resolve, reject) => {
    let received = 0;
    // The client's silence, not ours: while the request is paused (its bytes wait for a write to
    // the store), the wait is not the client's, and the watchdog waits on.
    // Decided after the event loop's next poll: bytes that came while this process was busy
    // (a long GC, a CPU-bound moment) are read first, and count.
    watchdog = setTimeout(function idle() {
      if (ctx.req.complete) return;
      if (ctx.req.readableFlowing === false) return watchdog?.refresh();
      const before = received;
      setImmediate(() => {
        if (received === before && !ctx.req.complete) reject(uploadStalled(idleMs, received));
      });
    }, idleMs);
    parser.on("close", resolve);
    parser.on("error", reject);
    ctx.req.on("error", reject);
    // No more of the body will come (the client went away, or the request
    // timeout cut it off): busboy would wait for it forever.
    ctx.req.on("close", () => {
      if (!ctx.req.complete) reject(uploadCutOff());
    });
    ctx.req.pipe(parser);
    ctx.req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      watchdog?.refresh();
    });
  }).finally(() => clearTimeout(watchdog));
}

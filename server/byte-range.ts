// A download of bytes whose size is known (an output file, an operator's copy
// of an upload, the log): sent a chunk at a time as the client takes it, with
// its Content-Length, and a part of it for a Range request (RFC 9110 §14),
// so that a large download cut halfway can be resumed where it stopped.
//
// One range per request: a request for several (a multipart/byteranges
// answer) gets the whole body, 200, as RFC 9110 lets a server do; so does a
// Range header that cannot be parsed. A download without an ETag (a job that
// still runs) may change between requests: If-Range never holds for it, and
// a client that sent one gets the whole body.
import fs from "node:fs";
import { Readable } from "node:stream";
import type { Context } from "koa";
import { HttpError } from "./errors.ts";
import { notModified } from "./etag.ts";

/** The bytes a Range header asks for, inclusive; "unsatisfiable" when none of them exists; null to send the whole body. */
export type ByteRange = { start: number; end: number } | "unsatisfiable" | null;

const SPEC = /^(\d*)-(\d*)$/;

/** The single byte range of a Range header, against a body of `size` bytes. */
export function parseRange(header: string, size: number): ByteRange {
  const eq = header.indexOf("=");
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== "bytes") return null;
  const specs = header.slice(eq + 1).split(",");
  if (specs.length !== 1) return null;
  const match = SPEC.exec(specs[0]!.trim());
  if (!match) return null;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    // bytes=-n: the last n bytes.
    const suffix = Number(last);
    if (!Number.isSafeInteger(suffix)) return null;
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? Infinity : Number(last);
  if (!Number.isSafeInteger(start) || (last !== "" && (!Number.isSafeInteger(end) || end < start))) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Whether a Range request is to be answered with a part: without If-Range,
 * always; with one, only when it names this download's ETag, compared
 * strongly (a date, or a weak tag, never holds: these downloads have no
 * Last-Modified).
 */
function ifRangeHolds(ctx: Context, etag: string | null): boolean {
  const condition = ctx.get("If-Range").trim();
  if (condition === "") return true;
  return etag !== null && !condition.startsWith("W/") && condition === etag;
}

/** A body of known size, read a part at a time. */
export interface ByteSource {
  size: number;
  /** Bytes start..end (inclusive), in chunks; it throws when they can no longer be read whole. */
  read(start: number, end: number): AsyncIterable<Buffer>;
}

/** A source over bytes already in memory (a body bounded by what made it). */
export function bufferSource(bytes: Buffer): ByteSource {
  return {
    size: bytes.length,
    // eslint-disable-next-line @typescript-eslint/require-await
    async *read(start, end) {
      yield bytes.subarray(start, end + 1);
    },
  };
}

/** A source read in chunks of `chunkBytes` by `readChunk`, which must give every byte asked for. */
export function chunkedSource(
  size: number,
  chunkBytes: number,
  readChunk: (start: number, end: number) => Promise<Buffer | null>,
): ByteSource {
  return {
    size,
    async *read(start, end) {
      for (let at = start; at <= end; at += chunkBytes) {
        const last = Math.min(end, at + chunkBytes - 1);
        const chunk = await readChunk(at, last);
        // Gone or shorter (expired, deleted meanwhile): the answer is cut, never padded.
        if (!chunk || chunk.length !== last - at + 1) throw new Error("the download's bytes are no longer stored whole");
        yield chunk;
      }
    },
  };
}

/**
 * A file on this host's disk (a directory file store): read with one open
 * file and the kernel's read-ahead. A file shorter than its size (removed,
 * cut) ends the answer short, never padded.
 */
export function fileSource(file: string, size: number, chunkBytes = 1024 * 1024): ByteSource {
  return {
    size,
    async *read(start, end) {
      let sent = 0;
      for await (const chunk of fs.createReadStream(file, { start, end, highWaterMark: chunkBytes }) as AsyncIterable<Buffer>) {
        sent += chunk.length;
        yield chunk;
      }
      if (sent !== end - start + 1) throw new Error("the download's bytes are no longer stored whole");
    },
  };
}

/**
 * A body made again each time by `make`, the same bytes each time (a CSV
 * file neutralised, an ended job's results): its size counted by a first
 * pass, unless given; a range is made from its start and cut.
 */
export async function generatedSource(make: () => AsyncIterable<Buffer>, knownSize?: number): Promise<ByteSource> {
  let size = knownSize ?? 0;
  if (knownSize === undefined) for await (const chunk of make()) size += chunk.length;
  return {
    size,
    async *read(start, end) {
      let at = 0;
      for await (const chunk of make()) {
        const from = Math.max(start - at, 0);
        const to = Math.min(end + 1 - at, chunk.length);
        if (from < to) yield chunk.subarray(from, to);
        at += chunk.length;
        if (at > end) return;
      }
      if (at <= end) throw new Error("the download's bytes are no longer made whole");
    },
  };
}

/**
 * Sizes of made bodies (generatedSource) by their ETag, counted while one
 * was sent whole: a later request for the same body (a resumed download)
 * gets its Content-Length and its range without a counting pass. The
 * oldest go first past `max`.
 */
export class MadeSizes {
  private readonly sizes = new Map<string, number>();
  constructor(private readonly max = 1000) {}

  get(etag: string): number | undefined {
    return this.sizes.get(etag);
  }

  set(etag: string, size: number): void {
    this.sizes.delete(etag);
    this.sizes.set(etag, size);
    if (this.sizes.size > this.max) this.sizes.delete(this.sizes.keys().next().value!);
  }
}

/**
 * Answers with a made body whose bytes never change (it has an ETag): sent
 * as it is made (chunked, the first bytes at once) when its size is not
 * known yet and the whole is asked for, its size then kept in `sizes`;
 * otherwise as sendBytes does, with its Content-Length, its ranges and 416,
 * after a counting pass when the size is not known.
 */
export async function sendMade(ctx: Context, make: () => AsyncIterable<Buffer>, etag: string, sizes: MadeSizes): Promise<void> {
  ctx.set("Accept-Ranges", "bytes");
  if (notModified(ctx, etag)) return;
  const known = sizes.get(etag);
  const wantsRange = ctx.get("Range") !== "" && ifRangeHolds(ctx, etag);
  if (known === undefined && !wantsRange) {
    const type = ctx.response.type;
    ctx.body = Readable.from(
      (async function* () {
        let size = 0;
        for await (const chunk of make()) {
          size += chunk.length;
          yield chunk;
        }
        sizes.set(etag, size);
      })(),
      { objectMode: false, highWaterMark: 0 },
    );
    if (type) ctx.type = type;
    return;
  }
  const source = await generatedSource(make, known);
  sizes.set(etag, source.size);
  sendBytes(ctx, source, etag);
}

/**
 * Answers with `source`: 304 for an If-None-Match that names `etag` (null:
 * none, the body may still change), 206 with Content-Range for a range that
 * exists, 416 for one that does not, else 200. The caller has set the media
 * type and the Content-Disposition.
 */
export function sendBytes(ctx: Context, source: ByteSource, etag: string | null): void {
  ctx.set("Accept-Ranges", "bytes");
  if (etag !== null && notModified(ctx, etag)) return;
  const { size } = source;
  const header = ctx.get("Range");
  const range = header && ifRangeHolds(ctx, etag) ? parseRange(header, size) : null;
  if (range === "unsatisfiable") {
    throw new HttpError(416, `This download has ${size} bytes: the range asked for is not in it.`, {
      title: "Range not satisfiable",
      headers: { "Content-Range": `bytes */${size}` },
      code: "range-not-satisfiable",
    });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const type = ctx.response.type;
  if (range) {
    ctx.status = 206;
    ctx.set("Content-Range", `bytes ${start}-${end}/${size}`);
  }
  // Not in object mode: the stream asks for the next chunk only once the
  // socket has taken the last, so a download holds about one chunk.
  ctx.body = size === 0 ? "" : Readable.from(source.read(start, end), { objectMode: false, highWaterMark: 0 });
  if (type) ctx.type = type;
  ctx.length = size === 0 ? 0 : end - start + 1;
}

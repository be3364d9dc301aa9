// ETags of what an ended job answers (its JSON, its downloads): once a job
// has ended, none of it changes while the job is kept, so a client that has
// an answer can ask again with If-None-Match and get 304, no body. Answers of
// a job that still runs change by the second and carry none (no-store).
import crypto from "node:crypto";
import type { Context } from "koa";

/** A strong ETag of these parts (an answer's bytes, or the facts a streamed answer is made of). */
export function etagOf(...parts: readonly (string | Buffer | number | null)[]): string {
  const hash = crypto.createHash("sha256");
  for (const part of parts) hash.update(Buffer.isBuffer(part) ? part : `${String(part)}\0`);
  return `"${hash.digest("base64url").slice(0, 27)}"`;
}

/**
 * Whether If-None-Match names this ETag ("*" names any), compared weakly as
 * RFC 9110 says for If-None-Match. Not Koa's ctx.fresh: it calls every
 * request with Cache-Control: no-cache stale, which fetch() adds to each
 * conditional request it sends; that directive is for caches on the way,
 * not for the origin's answer to a condition.
 */
function matches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === "*") return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return ifNoneMatch.split(",").some((tag) => opaque(tag) === opaque(etag));
}

/**
 * Marks the answer with its ETag (kept by the client, checked again each
 * time: no-cache), and answers 304 when the request's If-None-Match names
 * it: then true, and the caller sends nothing more.
 */
export function notModified(ctx: Context, etag: string): boolean {
  ctx.set("ETag", etag);
  ctx.set("Cache-Control", "private, no-cache");
  const condition = ctx.get("If-None-Match");
  if (!condition || !matches(condition, etag) || (ctx.method !== "GET" && ctx.method !== "HEAD")) return false;
  ctx.status = 304;
  ctx.body = null;
  return true;
}

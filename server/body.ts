// Request bodies are taken as sent: a body with a Content-Encoding (gzip,
// deflate, br, …) is refused with 415 before any route reads it. Browsers
// never compress a form, and decoding one would mean a decompressor fed by
// any client: a small body that inflates to gigabytes, and errors a parser
// may no longer be listening for (the body parser stops listening once its
// size limit is reached, and a zlib error after that crashed the process).
import type { Middleware } from "koa";
import { HttpError } from "./errors.ts";

/** True when the request has a body (a length or chunked transfer). */
function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  return headers["transfer-encoding"] !== undefined || (headers["content-length"] !== undefined && headers["content-length"] !== "0");
}

export function refuseEncodedBodies(): Middleware {
  return async function checkBodyEncoding(ctx, next) {
    const encoding = ctx.get("Content-Encoding").trim().toLowerCase();
    if (encoding && encoding !== "identity" && hasBody(ctx.req.headers)) {
      throw new HttpError(415, "Send the request body without a Content-Encoding (no gzip, deflate or br).", {
        title: "Unsupported body encoding",
      });
    }
    await next();
  };
}

// One error handler, first in the middleware chain, decides what a client
// sees: a page, a fragment (for htmx polls) or JSON. Messages of expected
// errors (HttpError, Redis unreachable or refusing writes) are shown;
// anything else is logged and shown as a plain 500 without internals. A write
// Redis refused (out of memory...) is an outage: a 503, reported to the app
// as "store-refused" (redis-memory.ts writes the warning), never a stack.
import type { Context, Middleware } from "koa";
import {
  FileStoreFullError,
  FileStoreUnavailableError,
  StoreBusyError,
  StoreUnavailableError,
  StoreWriteRefusedError,
} from "../jobs/core/store.ts";
import type { Renderer } from "./render.ts";
import { wantsJson } from "./negotiate.ts";
import type { ErrorBody, InvalidInput } from "./api-schemas.ts";

export interface HttpErrorOptions {
  title?: string;
  headers?: Record<string, string>;
  /** Extra sentences shown under the message. */
  detail?: string[];
  /** What a JSON client reads in `error` (default: from the status, see CODES). */
  code?: string;
  /** Why, in a few words, for the request's log line (request-log.ts reads it in ctx.state.logNote), where the status alone would not say. */
  logNote?: string;
}

export class HttpError extends Error {
  readonly expose = true;
  constructor(
    readonly status: number,
    message: string,
    readonly options: HttpErrorOptions = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Authentication needed",
  403: "Request refused",
  404: "Page not found",
  405: "Method not allowed",
  409: "Nothing to change",
  413: "Too much data",
  415: "Unsupported form encoding",
  422: "Check your answers",
  500: "Something went wrong",
  503: "Service unavailable",
};

const DEFAULT_MESSAGES: Record<number, string> = {
  404: "There is no page at this address.",
  405: "This address does not accept that kind of request.",
  500: "Something went wrong on our side. Please try again.",
};

/** The `error` of a JSON answer, by status, where the error names none. */
const CODES: Record<number, string> = {
  400: "bad-request",
  401: "unauthorized",
  403: "forbidden",
  404: "not-found",
  405: "method-not-allowed",
  409: "conflict",
  413: "too-large",
  415: "unsupported-media-type",
  422: "invalid-input",
  500: "internal",
  503: "unavailable",
};

/** A JSON client's 422 for a submission: a message per field that is not valid or not known. */
export function invalidInputBody(errors: Record<string, string>): InvalidInput {
  const count = Object.keys(errors).length;
  // `errors` repeats `fields` for clients of POST /count, which answered that name first.
  return {
    error: "invalid-input",
    message: `Check your answers: ${count} ${count === 1 ? "field has a problem" : "fields have problems"}.`,
    status: 422,
    fields: errors,
    errors,
  };
}

export type ResponseKind = "page" | "fragment" | "json";

/** How the current route answers errors; routes set ctx.state.kind = "fragment" for polls. */
export function responseKind(ctx: Context): ResponseKind {
  if (ctx.state.kind === "fragment") return "fragment";
  return wantsJson(ctx) ? "json" : "page";
}

/** Error codes of a body that is not in the Content-Encoding it claims (zlib, brotli). */
function isDecodeError(code: unknown): boolean {
  return typeof code === "string" && (code.startsWith("Z_") || code.startsWith("ERR__ERROR_") || code.startsWith("ERR_BROTLI"));
}

/**
 * The 4xx of an error that the request caused (a body that does not decode,
 * a URL that does not decode, or one the body parser or Koa classified), or
 * null for anything else, which is then a bug of ours (500). Whatever a
 * client sends must land here or be refused before.
 */
export function clientErrorStatus(err: unknown): { status: number; message?: string } | null {
  const e = err as { status?: unknown; code?: unknown } | null;
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) return { status: e.status };
  if (err instanceof URIError) return { status: 400, message: "The address could not be read: it has a malformed %-escape." };
  if (isDecodeError(e?.code))
    return { status: 400, message: "The request body could not be decoded with the Content-Encoding it was sent with." };
  return null;
}

/** The address a "Try again" link repeats: this request's path and query only, never another host (an absolute-form target) nor a //host path. */
export function retryPath(ctx: Context): string {
  return `/${ctx.path.replace(/^[/\\]+/, "")}${ctx.search}`;
}

function describe(err: unknown): { status: number; message: string; options: HttpErrorOptions; internal: boolean } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, options: err.options, internal: false };
  if (err instanceof StoreBusyError) {
    return {
      status: 503,
      message: "The server is too busy right now. Please try again in a moment.",
      options: { headers: { "Retry-After": "2" } },
      internal: false,
    };
  }
  // Out of file descriptors: a passing shortage of this server, not a bug (nothing was written).
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "EMFILE" || code === "ENFILE") {
    return {
      status: 503,
      message: "The server is out of resources right now. Please try again in a moment.",
      options: { headers: { "Retry-After": "5" } },
      internal: false,
    };
  }
  if (err instanceof StoreWriteRefusedError) {
    return {
      status: 503,
      message: err.full
        ? "The job store (Redis) is full, so nothing can be saved right now. Please try again in a few minutes."
        : "The job store (Redis) cannot save anything right now. Please try again in a few minutes.",
      options: { headers: { "Retry-After": "30" }, ...(err.full ? { code: "store-full" } : {}) },
      internal: false,
    };
  }
  if (err instanceof FileStoreFullError) {
    return {
      status: 507,
      message: "The server has no room to keep the file right now, so nothing was kept. Please try again later.",
      options: { headers: { "Retry-After": "300" }, code: "file-store-full", title: "No room for the file" },
      internal: false,
    };
  }
  if (err instanceof FileStoreUnavailableError) {
    return {
      status: 503,
      message: "The server's file store cannot be reached right now, so nothing was kept. Please try again in a moment.",
      options: { headers: { "Retry-After": "30" } },
      internal: false,
    };
  }
  if (err instanceof StoreUnavailableError) {
    return {
      status: 503,
      message: "The job store (Redis) cannot be reached right now. Please try again in a moment.",
      options: { headers: { "Retry-After": "5" } },
      internal: false,
    };
  }
  const e = err as { status?: unknown; expose?: unknown; message?: unknown };
  // Errors from Koa and its middleware (body parser: 400, 413, 415) carry a status.
  const client = clientErrorStatus(err);
  if (client) {
    const status = client.status;
    const message =
      client.message ??
      (status === 400
        ? "The request could not be read."
        : status === 413
          ? "The form sent more data than this page accepts."
          : status === 415
            ? "Send the form as application/x-www-form-urlencoded or JSON."
            : e.expose && typeof e.message === "string"
              ? e.message
              : (DEFAULT_MESSAGES[status] ?? "The request could not be understood."));
    return { status, message, options: {}, internal: false };
  }
  return { status: 500, message: DEFAULT_MESSAGES[500]!, options: {}, internal: true };
}

export function errorHandler(renderer: Renderer): Middleware {
  return async function handleErrors(ctx, next) {
    try {
      await next();
      if (ctx.status >= 400 && ctx.body == null) {
        throw new HttpError(ctx.status, DEFAULT_MESSAGES[ctx.status] ?? TITLES[ctx.status] ?? "Request failed.");
      }
    } catch (err) {
      const { status, message, options, internal } = describe(err);
      if (internal) ctx.app.emit("error", err, ctx);
      if (err instanceof StoreWriteRefusedError) ctx.app.emit("store-refused", err, ctx);
      const allow = ctx.response.get("Allow");
      if (options.logNote) ctx.state.logNote = options.logNote;
      ctx.status = status;
      for (const [name, value] of Object.entries(options.headers ?? {})) ctx.set(name, value);
      if (allow) ctx.set("Allow", allow);
      ctx.set("Cache-Control", "no-store");
      const title = options.title ?? TITLES[status] ?? "Request failed";
      const kind = responseKind(ctx);
      if (kind === "json") {
        ctx.body = { error: options.code ?? CODES[status] ?? "error", message, status } satisfies ErrorBody;
      } else {
        ctx.type = "html";
        // A poll that meets a 503 keeps polling the same URL until Redis is back;
        // a page offers to load the same address again (a GET only: a link
        // cannot repeat a POST).
        const retryUrl = status === 503 && (ctx.method === "GET" || ctx.method === "HEAD") ? retryPath(ctx) : null;
        const data = { title, message, detail: options.detail ?? [], status, retryUrl };
        ctx.body = renderer.render(kind === "fragment" ? "fragments/error" : "pages/error", data);
      }
    }
  };
}

// What every section of the operator's pages shares: the body parser of its
// POSTs, a form field, the job id in the address and its 404, and the answer
// of an action (JSON, or a redirect for a browser).
import { bodyParser } from "@koa/bodyparser";
import type { Context } from "koa";
import { isJobId } from "../../jobs/core/store.ts";
import { HttpError } from "../errors.ts";
import { wantsJson } from "../negotiate.ts";

/** The body of an operator's POST: a small form or JSON. */
export const adminBody = bodyParser({ enableTypes: ["form", "json"], formLimit: "8kb", jsonLimit: "8kb", encoding: "utf-8" });

/** A field of the request's body, as a string ("" when absent or not a string). */
export function field(ctx: Context, name: string): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === "string" ? value : "";
}

/** The job id in the address (:id), or a 404. */
export function jobIdOf(ctx: Context): string {
  const id = (ctx.params as Record<string, string | undefined>).id;
  if (!isJobId(id)) throw new HttpError(404, "There is no job at this address.", { title: "Job not found" });
  return id;
}

/** The 404 for a job id that names no job. */
export const missing = () =>
  new HttpError(404, "There is no such job: it has expired, was deleted, or never was.", { title: "Job not found" });

/** An action's answer: the JSON with its status, or a redirect (303) to where a browser goes next. */
export function done(ctx: Context, json: object, to: string, status = 200): void {
  if (wantsJson(ctx)) {
    ctx.status = status;
    ctx.body = json;
    return;
  }
  ctx.status = 303;
  ctx.redirect(to);
}

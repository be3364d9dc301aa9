// The count form: GET / and the article's GET /count/:start/:end show it;
// POST /count validates, creates the job, and hands it to the supervisor.
import Router from "@koa/router";
import { bodyParser } from "@koa/bodyparser";
import type { Context } from "koa";
import { checkCount, COUNT_DEFAULTS, COUNT_FIELDS, type CountField, type CountInput } from "../../jobs/types/counting.ts";
import { QueueFullError } from "../../jobs/store.ts";
import { count } from "../../jobs/types/count.ts";
import { HttpError } from "../errors.ts";
import { jobUrl, statusUrl } from "../urls.ts";
import type { AppDeps } from "../app.ts";

export interface FormView {
  values: Record<CountField, string>;
  errors: Partial<Record<CountField, string>>;
  errorList: { field: CountField; message: string }[];
  maxSteps: number;
}

function formView(values: Record<CountField, string>, errors: Partial<Record<CountField, string>>, maxSteps: number): FormView {
  const errorList = COUNT_FIELDS.filter((f) => errors[f]).map((field) => ({ field, message: errors[field]! }));
  return { values, errors, errorList, maxSteps };
}

const DEFAULT_VALUES = Object.fromEntries(COUNT_FIELDS.map((f) => [f, String(COUNT_DEFAULTS[f])])) as Record<CountField, string>;

/** JSON clients may send numbers; everything else is checked as text (a repeated field is refused). */
function field(value: unknown): unknown {
  return typeof value === "number" ? String(value) : value;
}

export function countRoutes({ config, supervisor }: AppDeps): Router {
  const router = new Router();
  const maxSteps = config.countMaxSteps;

  router.get("/", async (ctx) => {
    await ctx.render("pages/home", { form: formView(DEFAULT_VALUES, {}, maxSteps) });
  });

  // The article's bookmarkable URL. A GET never starts a job (link prefetchers,
  // crawlers and cross-site links would start them): it fills in the form.
  router.get("/count/:start/:end", async (ctx) => {
    const input: CountInput = {
      start: ctx.params.start,
      end: ctx.params.end,
      increment: ctx.query.increment ?? String(COUNT_DEFAULTS.increment),
    };
    const check = checkCount(input, maxSteps);
    if (!check.ok) ctx.status = 400;
    const values = check.ok
      ? (Object.fromEntries(COUNT_FIELDS.map((f) => [f, String(check.params[f])])) as Record<CountField, string>)
      : check.values;
    await ctx.render("pages/home", { form: formView(values, check.ok ? {} : check.errors, maxSteps) });
  });

  router.post(
    "/count",
    async (ctx, next) => {
      if (!ctx.is("urlencoded", "json")) throw new HttpError(415, "Send the form as application/x-www-form-urlencoded or JSON.");
      await next();
    },
    bodyParser({ enableTypes: ["form", "json"], formLimit: "2kb", jsonLimit: "2kb", encoding: "utf-8" }),
    async (ctx: Context) => {
      const body = (ctx.request.body ?? {}) as Record<string, unknown>;
      if (typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "The request could not be read: send the form fields start, end and increment.");
      const input: CountInput = Object.fromEntries(COUNT_FIELDS.map((f) => [f, field(body[f])]));
      const check = checkCount(input, maxSteps);
      const wantsJson = ctx.accepts("html", "json") === "json";
      if (!check.ok) {
        ctx.status = 422;
        if (wantsJson) ctx.body = { error: "Invalid input", errors: check.errors };
        else await ctx.render("pages/home", { form: formView(check.values, check.errors, maxSteps) });
        return;
      }
      let id: string;
      try {
        // Creates the job and starts it (or queues it); with JOB_QUEUE_MAX=0, only if it can start now.
        id = await supervisor.submit({
          type: count.name,
          params: check.params,
          total: check.total,
          timeoutMs: count.timeoutMs ?? config.jobTimeoutMs,
          ttlSucceededS: count.ttlSucceededS,
          ttlFailedS: count.ttlFailedS,
        });
      } catch (err) {
        if (err instanceof QueueFullError) {
          throw new HttpError(503, `Too many jobs are waiting (${config.jobQueueMax}). Please try again in a minute.`, {
            title: "Too busy right now",
            headers: { "Retry-After": "30" },
          });
        }
        throw err;
      }
      const url = jobUrl(id);
      if (wantsJson) {
        ctx.status = 202;
        ctx.set("Location", url);
        ctx.body = { id, url, statusUrl: statusUrl(id) };
      } else {
        ctx.status = 303;
        ctx.redirect(url);
      }
    },
  );

  return router;
}

// Job types' forms: GET / lists the types (the first one's form on the page
// itself, where the flow starts), GET /jobs/new/:type shows one type's form
// (filled in from the query), POST /jobs/new/:type validates and creates the
// job and hands it to the supervisor. A type's short addresses (its
// `aliases`, e.g. the counter's POST /count and GET /count/:start/:end) are
// mounted here too, onto the same handlers. A type with a file field takes
// multipart/form-data (server/uploads.ts stores the file in Redis as it
// arrives); every other type refuses it (415).
import Router from "@koa/router";
import { bodyParser } from "@koa/bodyparser";
import type { Context, Middleware } from "koa";
import type { Config } from "../config.ts";
import { defaultValues, unknownFields, type Params } from "../../jobs/core/fields.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import { newJobId, QueueFullError } from "../../jobs/core/store.ts";
import { jobType, JOB_TYPES } from "../../jobs/types/index.ts";
import { HttpError, invalidInputBody } from "../errors.ts";
import type { Created } from "../api-schemas.ts";
import { discardUploads, fileFields, receiveForm } from "../uploads.ts";
import { checkSubmission, formView, paramValues, type FormView } from "../forms.ts";
import { jobUrl, NEW_JOB_ROUTE, newJobUrl, statusUrl } from "../urls.ts";
import { wantsJson } from "../negotiate.ts";
import type { AppDeps } from "../deps.ts";
import { recentJobs, recentMaxAgeMs, rememberJob, type RecentList } from "../recent.ts";

/** The most a form or JSON body may hold: 2 kB, plus room for each text field's longest value, percent-encoded. */
function bodyLimit(type: JobType): number {
  const text = type.fields.reduce((sum, f) => sum + (f.kind === "text" ? f.maxLength * 4 * 3 : 0), 0);
  return 2048 + text;
}

function unreadable(type: JobType): HttpError {
  const names = type.fields.map((f) => f.name);
  const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : (names[0] ?? "");
  return new HttpError(400, `The request could not be read: send the form field${names.length === 1 ? "" : "s"} ${list}.`, {
    code: "unreadable",
  });
}

/** What the form handlers share: the deps they use, the types this server runs, and the recent-jobs list's age. */
interface Forms {
  store: AppDeps["store"];
  config: Config;
  supervisor: AppDeps["supervisor"];
  memory: AppDeps["memory"];
  types: readonly JobType[];
  recentMaxAge: number;
}

/** A file's upload, stored under the job's id before the job exists (server/uploads.ts). */
interface Upload {
  id: string;
  fields: string[];
  errors: Record<string, string>;
}

export function formRoutes({ store, config, supervisor, memory }: AppDeps, types: readonly JobType[] = JOB_TYPES): Router {
  const forms: Forms = { store, config, supervisor, memory, types, recentMaxAge: recentMaxAgeMs(config) };
  const typeOf = typeInAddress(types);
  const router = new Router();
  router.get("/", home(forms));
  router.get(NEW_JOB_ROUTE, fill(forms, typeOf));
  router.post(NEW_JOB_ROUTE, readBody(forms, typeOf), submit(forms));
  for (const type of types) {
    if (type.aliases?.fill)
      router.get(
        type.aliases.fill,
        fill(forms, () => type),
      );
    if (type.aliases?.post)
      router.post(
        type.aliases.post,
        readBody(forms, () => type),
        submit(forms),
      );
  }
  return router;
}

/** The type named in the address (:type), or a 404. */
const typeInAddress =
  (types: readonly JobType[]) =>
  (ctx: Context): JobType => {
    const type = jobType((ctx.params as Record<string, string | undefined>).type ?? "", types);
    if (!type) {
      throw new HttpError(404, "There is no job type of that name.", {
        title: "Job type not found",
        detail: ["The start page lists every kind of job this site runs."],
        code: "unknown-type",
      });
    }
    return type;
  };

async function renderForm(ctx: Context, { types }: Forms, form: FormView, page: "home" | "new-job" = "new-job", recent?: RecentList) {
  const others = types
    .filter((t) => t.name !== form.type)
    .map((t) => ({ title: t.title, description: t.description, url: newJobUrl(t.name) }));
  await ctx.render(`pages/${page}`, { form, others, recent });
}

/** GET /: the first type's form, the other types, and this browser's recent jobs. */
const home =
  (forms: Forms): Middleware =>
  async (ctx) => {
    const first = forms.types[0]!;
    // The list of this browser's jobs makes the page its own.
    ctx.set("Cache-Control", "no-store");
    const recent = await recentJobs(ctx, forms.store, forms.recentMaxAge);
    await renderForm(ctx, forms, formView(first, forms.config), "home", recent);
  };

/**
 * A form filled in from the address: GET never starts a job (link
 * prefetchers, crawlers and cross-site links would start them). Values are
 * checked as a submission would be; any problem answers 400 with the form.
 */
const fill =
  (forms: Forms, typeFor: (ctx: Context) => JobType): Middleware =>
  async (ctx) => {
    const { config } = forms;
    const type = typeFor(ctx);
    const given: Record<string, unknown> = {};
    for (const f of type.fields) {
      const raw = (ctx.params as Record<string, string | undefined>)[f.name] ?? ctx.query[f.name];
      if (raw !== undefined) given[f.name] = raw;
    }
    if (Object.keys(given).length === 0) return renderForm(ctx, forms, formView(type, config));
    const check = checkSubmission(type, config, { ...defaultValues(type.fields), ...given });
    if (!check.ok) ctx.status = 400;
    await renderForm(
      ctx,
      forms,
      check.ok ? formView(type, config, paramValues(type, check.params)) : formView(type, config, check.values, check.errors),
    );
  };

/**
 * A submission's body, by its type's form: multipart/form-data for a form
 * with a file (its uploads stored under a new job id as they arrive, and
 * discarded if the submission fails), else a URL-encoded form or JSON, within
 * the type's bodyLimit.
 */
const readBody = ({ store, config, memory }: Forms, typeFor: (ctx: Context) => JobType): Middleware => {
  const parsers = new Map<string, Middleware>();
  return async (ctx, next) => {
    const type = typeFor(ctx); // an unknown type is a 404 before the body is read
    ctx.state.jobType = type;
    // Redis nearly full (REDIS_MEMORY_REFUSE_PERCENT): a 503 before anything is read or stored.
    await memory.checkRoom();
    if (fileFields(type).length > 0) {
      // A form with a file: the job's id first, its uploads stored under it as they arrive (server/uploads.ts).
      if (!ctx.is("multipart"))
        throw new HttpError(415, "Send this form as multipart/form-data: it holds a file.", { code: "multipart-needed" });
      const id = newJobId();
      const form = await receiveForm(ctx, { store, id, type, maxBytes: config.jobUploadMaxBytes });
      ctx.state.upload = { id, fields: Object.keys(form.files), errors: form.errors } satisfies Upload;
      (ctx.request as { body?: unknown }).body = { ...form.fields, ...form.files };
      try {
        await next();
      } catch (err) {
        await discardUploads(store, id, type).catch(() => {});
        throw err;
      }
      return;
    }
    if (ctx.is("multipart")) {
      throw new HttpError(415, "This form has no file: send it as application/x-www-form-urlencoded or JSON.", {
        code: "multipart-refused",
      });
    }
    if (!ctx.is("urlencoded", "json")) throw new HttpError(415, "Send the form as application/x-www-form-urlencoded or JSON.");
    let parse = parsers.get(type.name);
    if (!parse) {
      const limit = bodyLimit(type);
      parse = bodyParser({ enableTypes: ["form", "json"], formLimit: limit, jsonLimit: limit, encoding: "utf-8" });
      parsers.set(type.name, parse);
    }
    try {
      await parse(ctx, next);
    } catch (err) {
      // The body parser's 400 (broken JSON) says what to send instead, in this type's fields.
      if (!(err instanceof HttpError) && (err as { status?: unknown })?.status === 400) throw unreadable(type);
      throw err;
    }
  };
};

/** Checks the submission read by readBody; creates the job (202 with its address, or 303 to its page), or answers 422 with the problems. */
const submit =
  (forms: Forms): Middleware =>
  async (ctx) => {
    const { store, config } = forms;
    const type = ctx.state.jobType as JobType;
    const body = (ctx.request as { body?: unknown }).body ?? {};
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw unreadable(type);
    const upload = ctx.state.upload as Upload | undefined;
    let check = checkSubmission(type, config, body as Record<string, unknown>);
    // A JSON body holds only the form's fields: one it does not declare is refused, never dropped (a form's extras are ignored).
    const unknown = ctx.is("json") ? unknownFields(type.fields, body as Record<string, unknown>) : {};
    if (Object.keys(unknown).length > 0) {
      const values = check.ok ? paramValues(type, check.params) : check.values;
      check = { ok: false, values, errors: { ...(check.ok ? {} : check.errors), ...unknown } };
    }
    if (upload && Object.keys(upload.errors).length > 0) {
      // A refused file: its own message, over "Choose the file"; the other answers are kept.
      const values = check.ok ? paramValues(type, check.params) : check.values;
      check = { ok: false, values, errors: { ...(check.ok ? {} : check.errors), ...upload.errors } };
    }
    const json = wantsJson(ctx);
    if (!check.ok) {
      if (upload) await discardUploads(store, upload.id, type);
      ctx.status = 422;
      if (json) {
        ctx.body = invalidInputBody(check.errors);
      } else {
        await renderForm(ctx, forms, formView(type, config, check.values, check.errors));
      }
      return;
    }
    const id = await createJob(forms, type, check.params, check.total, upload);
    rememberJob(ctx, id, forms.recentMaxAge);
    const url = jobUrl(id);
    if (json) {
      ctx.status = 202;
      ctx.set("Location", url);
      ctx.body = { id, url, statusUrl: statusUrl(id) } satisfies Created;
    } else {
      ctx.status = 303;
      ctx.redirect(url);
    }
  };

async function createJob({ config, supervisor }: Forms, type: JobType, params: Params, total: number, upload?: Upload): Promise<string> {
  try {
    // Creates the job and starts it (or queues it); with JOB_QUEUE_MAX=0, only if it can start now.
    return await supervisor.submit({
      ...(upload ? { id: upload.id, uploads: upload.fields } : {}),
      type: type.name,
      params,
      total,
      timeoutMs: type.timeoutMs ?? config.jobTimeoutMs,
      ttlSucceededS: type.ttlSucceededS,
      ttlFailedS: type.ttlFailedS,
    });
  } catch (err) {
    if (err instanceof QueueFullError) {
      throw new HttpError(503, `Too many jobs are waiting (${config.jobQueueMax}). Please try again in a minute.`, {
        title: "Too busy right now",
        headers: { "Retry-After": "30" },
        code: "queue-full",
      });
    }
    throw err;
  }
}

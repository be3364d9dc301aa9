// Job types' forms: GET / lists the types (the first one's form on the page
// itself, where the flow starts), GET /jobs/new/:type shows one type's form
// (filled in from the query), POST /jobs/new/:type validates and creates the
// job and hands it to the supervisor. A type's short addresses (its
// `aliases`, e.g. the counter's POST /count and GET /count/:start/:end) are
// mounted here too, onto the same handlers. A type with a file field takes
// multipart/form-data (server/uploads.ts stores the file in Redis as it
// arrives); every other type refuses it (415). A submit sent again under the
// same key (an Idempotency-Key header, or the form's one-time token) answers
// the job it created (server/submit-keys.ts); so every page with a form is
// fetched anew at each visit (renderForm), or two visits would share a token.
import Router from "@koa/router";
import { userOf } from "../identity.ts";
import { submitterOf } from "../submitters.ts";
import { bodyParser } from "@koa/bodyparser";
import type { Context, Middleware } from "koa";
import type { Config } from "../config.ts";
import { defaultValues, unknownFields, type Params } from "../../jobs/core/fields.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import {
  AlreadySubmittedError,
  newJobId,
  QueueFullError,
  SubmitKeyReusedError,
  SubmitterQueueFullError,
  type SubmitOnce,
} from "../../jobs/core/store.ts";
import { SUBMISSION_FIELD } from "../../jobs/core/job-type.ts";
import { jobType } from "../../jobs/types/index.ts";
import { HttpError, invalidInputBody } from "../errors.ts";
import type { Created } from "../api-schemas.ts";
import { discardUploads, fileFields, receiveForm, TooLargeError } from "../uploads.ts";
import { keptFiles, reuseKept, type KeptFile } from "../kept-uploads.ts";

type Kept = Record<string, KeptFile>;
import { checkSubmission, formView, paramValues, type FormView } from "../forms.ts";
import { idempotencyKey, submissionToken, submitOnce, withoutToken, type SubmitKey } from "../submit-keys.ts";
import { jobUrl, NEW_JOB_ROUTE, newJobUrl, statusUrl } from "../urls.ts";
import { wantsJson } from "../negotiate.ts";
import type { AppDeps } from "../deps.ts";
import { recentJobs, recentMaxAgeMs, rememberJob, type RecentList } from "../recent.ts";
import { checkNotify, EMAIL_MAX, NOTIFY_EMAIL_FIELD, notifyEmailOf, takeNotifyFields } from "../notify/request.ts";
import { WEBHOOK_URL_MAX } from "../notify/hosts.ts";
import type { Notifier } from "../notify/notifier.ts";

/** The signed-in person's address, once sign-in gives one: the default address to tell when a job ends. */
function signedInEmail(ctx: Context): string | null {
  return (ctx.state as { user?: { email?: string | null } | null }).user?.email ?? null;
}

/**
 * The most a form or JSON body may hold: 2 kB, plus room for each text field's longest value, percent-encoded,
 * for an email address, percent-encoded (EMAIL_MAX), and for a webhook URL as JSON sends it (WEBHOOK_URL_MAX).
 */
function bodyLimit(type: JobType): number {
  const text = type.fields.reduce((sum, f) => sum + (f.kind === "text" ? f.maxLength * 4 * 3 : 0), 0);
  return 2048 + text + EMAIL_MAX * 3 + WEBHOOK_URL_MAX;
}

function unreadable(type: JobType): HttpError {
  const names = type.fields.map((f) => f.name);
  const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : (names[0] ?? "");
  return new HttpError(400, `The request could not be read: send the form field${names.length === 1 ? "" : "s"} ${list}.`, {
    code: "unreadable",
  });
}

/** What the form handlers share: the deps they use, the types this deployment offers, and the recent-jobs list's age. */
interface Forms {
  store: AppDeps["store"];
  config: Config;
  supervisor: AppDeps["supervisor"];
  memory: AppDeps["memory"];
  types: readonly JobType[];
  registry: readonly JobType[];
  recentMaxAge: number;
  notifier: Notifier;
  identity: AppDeps["identity"];
}

/** A file's upload, stored under the job's id before the job exists (server/uploads.ts). */
interface Upload {
  id: string;
  fields: string[];
  errors: Record<string, string>;
  /** Each stored file's SHA-256: part of the request's fingerprint. */
  digests: Record<string, string>;
}

export function formRoutes({ store, config, supervisor, memory, types, registry, notifier, identity }: AppDeps): Router {
  const forms: Forms = {
    store,
    config,
    supervisor,
    memory,
    types,
    registry,
    recentMaxAge: recentMaxAgeMs(config, registry),
    notifier,
    identity,
  };
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

async function renderForm(ctx: Context, forms: Forms, form: FormView, page: "home" | "new-job" = "new-job", given?: RecentList) {
  const { types } = forms;
  // This browser's recent jobs, on every form.
  const recent = given ?? (await recentJobs(ctx, forms.store, forms.recentMaxAge, forms.registry));
  // The form holds a one-time token (FormView.token): a page taken from a cache would give two visits the
  // same one. no-cache: every visit asks the server (which sends no validator, so a new page and token);
  // the back button may still show the page it left, with its token and what was typed (RFC 9111 §6), so
  // sending it again is the same job. no-store would forbid that too: back would fetch a new token.
  // private: the page is this browser's (its token; its recent jobs).
  ctx.set("Cache-Control", "private, no-cache");
  // The empty form offers the signed-in person's own address to tell when the job ends (they may clear it).
  if (form.notify?.fresh) form.notify.value = notifyEmailOf(undefined, signedInEmail(ctx)) ?? "";
  const others = types
    .filter((t) => t.name !== form.type)
    .map((t) => ({ title: t.title, description: t.description, url: newJobUrl(t.name) }));
  await ctx.render(`pages/${page}`, { form, others, recent });
}

/** GET /: the first type's form, the other types, and this browser's recent jobs (every form shows them). */
const home =
  (forms: Forms): Middleware =>
  async (ctx) => {
    const first = forms.types[0]!;
    // The list of this browser's jobs makes the page its own (and its form's token: renderForm).
    const recent = await recentJobs(ctx, forms.store, forms.recentMaxAge, forms.registry);
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
    // Started again from a job whose files are still kept: they are offered again.
    const mayOpen = (job: { user: string | null }) => forms.identity.mayOpen(job, userOf(ctx));
    const kept = fileFields(type).length > 0 ? await keptFiles(forms.store, type, ctx.query.from, mayOpen) : {};
    if (Object.keys(given).length === 0) return renderForm(ctx, forms, formView(type, config, undefined, {}, false, kept));
    const check = checkSubmission(type, config, { ...defaultValues(type.fields), ...given });
    if (check.ok) return renderForm(ctx, forms, formView(type, config, paramValues(type, check.params), {}, false, kept));
    // A file cannot come in an address: its field is chosen on the form, not an error before the form is sent.
    const errors = Object.fromEntries(Object.entries(check.errors).filter(([name]) => !fileFields(type).includes(name)));
    if (Object.keys(errors).length > 0) ctx.status = 400;
    await renderForm(ctx, forms, formView(type, config, check.values, errors, false, kept));
  };

/**
 * A submission's body, by its type's form: multipart/form-data for a form
 * with a file (its uploads stored under a new job id as they arrive, and
 * discarded if the submission fails), else a URL-encoded form or JSON, within
 * the type's bodyLimit.
 */
const readBody = (forms: Forms, typeFor: (ctx: Context) => JobType): Middleware => {
  const { store, config, memory } = forms;
  const parsers = new Map<string, Middleware>();
  return async (ctx, next) => {
    const type = typeFor(ctx); // an unknown type is a 404 before the body is read
    ctx.state.jobType = type;
    // A bad Idempotency-Key: a 400 before anything is read or stored.
    const header = idempotencyKey(ctx);
    ctx.state.submitKey = header;
    // Redis nearly full (REDIS_MEMORY_REFUSE_PERCENT): a 503 before anything is read or stored.
    await memory.checkRoom();
    if (fileFields(type).length > 0) {
      // A form with a file: its uploads stored as they arrive (server/uploads.ts), under the job's id,
      // chosen at the first file: in the partition of the submit key's record, when there is a key.
      if (!ctx.is("multipart"))
        throw new HttpError(415, "Send this form as multipart/form-data: it holds a file.", { code: "multipart-needed" });
      let tokenBeforeFile: unknown = null;
      const chooseId = (fields: Readonly<Record<string, unknown>>): string => {
        tokenBeforeFile = fields[SUBMISSION_FIELD];
        const key =
          header ??
          (typeof tokenBeforeFile === "string" && tokenBeforeFile !== "" ? { scope: "form" as const, key: tokenBeforeFile } : null);
        return key ? store.onceJobId(key.scope, key.key, type.name) : newJobId();
      };
      let form: Awaited<ReturnType<typeof receiveForm>>;
      try {
        form = await receiveForm(ctx, { store, chooseId, type, maxBytes: config.jobUploadMaxBytes, idleMs: config.uploadIdleTimeoutMs });
      } catch (err) {
        // From a page: the form again, its other answers kept where they were read.
        if (err instanceof TooLargeError && !wantsJson(ctx)) return tooLargeForm(ctx, forms, type, err);
        throw err;
      }
      const { id } = form;
      try {
        const token = submissionToken(form.fields);
        // The token came after a file, whose bytes are stored already under an id chosen without it.
        if (!header && token && tokenBeforeFile !== form.fields[SUBMISSION_FIELD]) {
          throw new HttpError(
            400,
            `Send the form's ${SUBMISSION_FIELD} field before its files, as the page's form does. Nothing was created.`,
            {
              code: "submission-after-file",
            },
          );
        }
        ctx.state.submitKey = header ?? token;
        // A file field sent no file but asked for an earlier job's, still kept: copied under this id.
        ctx.state.kept = await reuseKept(store, type, form, (job) => forms.identity.mayOpen(job, userOf(ctx)));
        ctx.state.upload = { id, fields: Object.keys(form.files), errors: form.errors, digests: form.digests } satisfies Upload;
        (ctx.request as { body?: unknown }).body = { ...form.fields, ...form.files };
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

/**
 * A file over the limit, sent from a page: the form again (413), the file
 * field saying the limit, and the answers read before the file was refused
 * (none when the request declared its size over the limit: it is not read).
 */
async function tooLargeForm(ctx: Context, forms: Forms, type: JobType, err: TooLargeError): Promise<void> {
  const values = { ...defaultValues(type.fields) };
  for (const f of type.fields) {
    const sent = err.fields[f.name];
    if (typeof sent === "string" && f.kind !== "file") values[f.name] = sent;
  }
  const errors = Object.fromEntries(fileFields(type).map((name) => [name, `${err.message} Nothing was kept.`]));
  ctx.status = 413;
  ctx.set("Connection", "close");
  await renderForm(ctx, forms, formView(type, forms.config, values, errors, true));
}

/** Checks the submission read by readBody; creates the job (202 with its address, or 303 to its page), or answers 422 with the problems. */
const submit =
  (forms: Forms): Middleware =>
  async (ctx) => {
    const { store, config } = forms;
    const type = ctx.state.jobType as JobType;
    const body = (ctx.request as { body?: unknown }).body ?? {};
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw unreadable(type);
    const upload = ctx.state.upload as Upload | undefined;
    // The header's key, or the form's token (not a parameter: taken out before the check).
    const submitKey = (ctx.state.submitKey as SubmitKey | null) ?? submissionToken(body as Record<string, unknown>);
    // Who to tell when the job ends: not the type's fields, checked apart (notify/request.ts).
    const sent = takeNotifyFields(body as Record<string, unknown>);
    let check = checkSubmission(type, config, withoutToken(sent.rest));
    // A JSON body holds only the form's fields (its key comes in the Idempotency-Key header): one it does not
    // declare is refused, never dropped (a form's extras, its token among them, are ignored).
    const unknown = ctx.is("json") ? unknownFields(type.fields, sent.rest) : {};
    if (Object.keys(unknown).length > 0) {
      const values = check.ok ? paramValues(type, check.params) : check.values;
      check = { ok: false, values, errors: { ...(check.ok ? {} : check.errors), ...unknown } };
    }
    if (upload && Object.keys(upload.errors).length > 0) {
      // A refused file: its own message, over "Choose the file"; the other answers are kept.
      const values = check.ok ? paramValues(type, check.params) : check.values;
      check = { ok: false, values, errors: { ...(check.ok ? {} : check.errors), ...upload.errors } };
    }
    // A webhook is an API client's (a page's form has no such field): in JSON, or a field of a form with a file.
    const notify = await checkNotify({ email: sent.email, webhook: sent.webhook }, config.notify, signedInEmail(ctx));
    if (!notify.ok) {
      const values = check.ok ? paramValues(type, check.params) : check.values;
      check = { ok: false, values, errors: { ...(check.ok ? {} : check.errors), ...notify.errors } };
    }
    const json = wantsJson(ctx);
    if (!check.ok) {
      if (upload) await discardUploads(store, upload.id, type);
      ctx.status = 422;
      if (json) {
        ctx.body = invalidInputBody(check.errors);
      } else {
        const values = { ...check.values, [NOTIFY_EMAIL_FIELD]: typeof sent.email === "string" ? sent.email : "" };
        await renderForm(ctx, forms, formView(type, config, values, check.errors, true, (ctx.state.kept as Kept | undefined) ?? {}));
      }
      return;
    }
    const request = notify.ok ? notify.request : null;
    // A request to be told is part of what a submit key names: the same key with another address is another request.
    const fingerprinted = request ? { ...check.params, [NOTIFY_EMAIL_FIELD]: request.email, webhookUrl: request.webhook } : check.params;
    const once = submitKey ? submitOnce(submitKey, type.name, fingerprinted, upload?.digests ?? {}, config.idempotencyTtlS) : undefined;
    const id = await createJob(forms, type, check.params, check.total, upload, once, {
      user: userOf(ctx)?.name,
      submitter: submitterOf(ctx, config.trustProxyHops),
    });
    // Kept with the job just after its create (and again, the same, for a submit sent again under its key).
    // A job whose end was reported meanwhile is told from here (notify/notifier.ts, tellEnded).
    if (request && (await store.askNotify(id, request)) === "ended") forms.notifier.tellEnded(id);
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

/**
 * Creates the job and starts it (or queues it); with JOB_QUEUE_MAX=0, only
 * if it can start now. Under a submit key the store may answer the job this
 * same request created before: its id is returned, and this request's
 * uploads deleted.
 */
async function createJob(
  { store, config, supervisor }: Forms,
  type: JobType,
  params: Params,
  total: number,
  upload?: Upload,
  once?: SubmitOnce,
  who: { user?: string; submitter?: string } = {},
): Promise<string> {
  try {
    return await supervisor.submit({
      ...(who.user ? { user: who.user } : {}),
      ...(who.submitter ? { submitter: who.submitter } : {}),
      ...(upload ? { id: upload.id, uploads: upload.fields } : {}),
      type: type.name,
      params,
      total,
      timeoutMs: type.timeoutMs ?? config.jobTimeoutMs,
      ttlSucceededS: type.ttlSucceededS,
      ttlFailedS: type.ttlFailedS,
      ...(once ? { once } : {}),
    });
  } catch (err) {
    if (err instanceof AlreadySubmittedError) {
      if (upload) await discardUploads(store, upload.id, type);
      return err.id;
    }
    if (err instanceof SubmitKeyReusedError) {
      throw new HttpError(
        422,
        "This Idempotency-Key was sent before with another request: use a new key for a new job. Nothing was created.",
        { title: "Key used for another request", code: "idempotency-key-reused" },
      );
    }
    if (err instanceof SubmitterQueueFullError) {
      throw new HttpError(
        429,
        `You have ${err.waiting} jobs waiting to start, the most one person may have (${err.limit}). Try again once one of them has started.`,
        {
          title: "Too many of your jobs are waiting",
          headers: { "Retry-After": "60" },
          code: "too-many-waiting",
          detail: [`Each person may have ${err.limit} jobs waiting at once; the others' jobs take turns with yours.`],
        },
      );
    }
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

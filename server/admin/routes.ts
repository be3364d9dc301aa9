// The operator's pages under /admin, mounted only when a password is set
// (ADMIN_PASSWORD or ADMIN_PASSWORD_HASH; otherwise /admin is a 404): the
// login, the overview, the jobs list, a job's admin view, and the actions.
// Every page answers JSON under Accept: application/json; every POST has
// passed the same-origin check (security.ts) before it gets here.
import Router from "@koa/router";
import { bodyParser } from "@koa/bodyparser";
import type { Context, Next } from "koa";
import { isJobId, isTerminal, JOB_STATES, newJobId, QueueFullError, type JobRow, type ListCursor } from "../../jobs/core/store.ts";
import { jobType, JOB_TYPES } from "../../jobs/types/index.ts";
import { formatDuration, formatNumber } from "../../jobs/core/format.ts";
import { HttpError } from "../errors.ts";
import { checkSubmission } from "../forms.ts";
import { jobView } from "../job-view.ts";
import { jobJson } from "../routes/jobs.ts";
import type { AppDeps } from "../deps.ts";
import { AdminAuth, LoginThrottle } from "./auth.ts";
import {
  ADMIN_ROUTE,
  adminJobUrl,
  charts,
  cursorText,
  filterQuery,
  iso,
  PARAM_SEARCH_MAX,
  paramMatches,
  parseFilters,
  rowJson,
  rowView,
  STATE_LABELS,
  utc,
} from "./view.ts";

/** A bulk action over more jobs than this asks for confirmation on a page first. */
export const BULK_CONFIRM_OVER = 100;
/** The most jobs one bulk action takes. */
export const BULK_MAX = 10_000;
/** How often the overview refreshes itself (htmx). */
export const OVERVIEW_REFRESH_S = 5;

/** A fact of a heartbeat as text: only strings and numbers are shown. */
const text = (v: unknown) => (typeof v === "string" || typeof v === "number" ? String(v) : "");

const wantsJson = (ctx: Context) => ctx.accepts("html", "json") === "json";

/** Only a path under /admin: a login never sends anyone to another site. */
function safeNext(value: unknown): string {
  return typeof value === "string" && /^\/admin(?:[/?#]|$)/.test(value) && !value.includes("//") && !value.includes("\\")
    ? value
    : ADMIN_ROUTE;
}

export function adminRoutes({ store, config, supervisor }: AppDeps): Router {
  if (!config.admin) throw new Error("adminRoutes needs an admin password");
  const auth = new AdminAuth(config.admin);
  const throttle = new LoginThrottle();
  const typeNames = JOB_TYPES.map((t) => t.name);
  const router = new Router({ prefix: ADMIN_ROUTE });
  const body = bodyParser({ enableTypes: ["form", "json"], formLimit: "8kb", jsonLimit: "8kb", encoding: "utf-8" });

  router.use(async (ctx: Context, next: Next) => {
    ctx.set("Cache-Control", "no-store");
    ctx.set("X-Robots-Tag", "noindex");
    ctx.vary("Accept");
    await next();
  });

  const field = (ctx: Context, name: string): string => {
    const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
    return typeof value === "string" ? value : "";
  };

  // ------------------------------------------------------------ login

  const renderLogin = async (ctx: Context, error: string | null, next: string) => {
    await ctx.render("pages/admin-login", { title: error ? "Error: Operator login" : "Operator login", error, next });
  };

  router.get("/login", async (ctx) => {
    const next = safeNext(ctx.query.next);
    if (auth.hasSession(ctx)) return ctx.redirect(next);
    await renderLogin(ctx, null, next);
  });

  router.post("/login", body, async (ctx) => {
    const address = ctx.ip;
    const wait = throttle.retryAfterS(address);
    if (wait > 0) {
      throw new HttpError(429, `Too many failed logins from your address. Try again in ${wait} s.`, {
        title: "Too many attempts",
        headers: { "Retry-After": String(wait) },
        code: "too-many-attempts",
      });
    }
    const next = safeNext(field(ctx, "next"));
    const password = field(ctx, "password");
    if (!password || password.length > 1024 || !(await auth.check(password))) {
      throttle.failed(address);
      ctx.status = 401;
      if (wantsJson(ctx)) {
        ctx.body = { error: "wrong-password", message: "That password is not the operator's.", status: 401 };
        return;
      }
      await renderLogin(
        ctx,
        password ? "That password is not the operator's. Check it and try again." : "Enter the operator's password.",
        next,
      );
      return;
    }
    throttle.succeeded(address);
    auth.startSession(ctx);
    if (wantsJson(ctx)) {
      ctx.status = 204;
      return;
    }
    ctx.status = 303;
    ctx.redirect(next);
  });

  router.post("/logout", (ctx) => {
    auth.endSession(ctx);
    if (wantsJson(ctx)) {
      ctx.status = 204;
      return;
    }
    ctx.status = 303;
    ctx.redirect(`${ADMIN_ROUTE}/login`);
  });

  // Everything below needs a session.
  router.use(async (ctx: Context, next: Next) => {
    if (auth.hasSession(ctx)) {
      await next();
      return;
    }
    if (wantsJson(ctx) || ctx.method !== "GET") {
      throw new HttpError(401, "Log in as the operator first: POST /admin/login with the password.", {
        title: "Login needed",
        code: "unauthenticated",
      });
    }
    const login = `${ADMIN_ROUTE}/login?next=${encodeURIComponent(ctx.originalUrl)}`;
    if (ctx.get("HX-Request") === "true") {
      // An overview refresh after the session ended: htmx would follow a
      // redirect and swap the login page into the overview; this sends the
      // whole page there instead.
      ctx.status = 204;
      ctx.set("HX-Redirect", login);
      return;
    }
    ctx.status = 303;
    ctx.redirect(login);
  });

  // ------------------------------------------------------------ overview

  async function overview() {
    const [counts, queueLength, oldest, { now, instances }] = await Promise.all([
      store.counts(typeNames),
      store.totalQueueLength(),
      store.oldestQueuedAt(typeNames),
      store.instances(),
    ]);
    const ended = await store.endedPerMinute(now);
    const byState = Object.fromEntries(JOB_STATES.map((s) => [s, typeNames.reduce((sum, t) => sum + counts[t]![s], 0)]));
    const byType = Object.fromEntries(typeNames.map((t) => [t, JOB_STATES.reduce((sum, s) => sum + counts[t]![s], 0)]));
    return {
      now,
      counts,
      byState,
      byType,
      queueLength,
      oldestQueuedAt: oldest,
      oldestQueuedAgeMs: oldest === null ? null : Math.max(0, now - oldest),
      instances: instances.map(({ id, facts }) => ({ id, ...facts })).sort((a, b) => String(a.id).localeCompare(String(b.id))) as ({
        id: string;
      } & Record<string, unknown>)[],
      lostLastHour: ended.reduce((s, e) => s + e.lost, 0),
      ended,
    };
  }

  const overviewJson = (o: Awaited<ReturnType<typeof overview>>) => ({
    at: iso(o.now),
    counts: { byState: o.byState, byType: o.byType, byTypeAndState: o.counts },
    queue: { length: o.queueLength, oldestQueuedAt: iso(o.oldestQueuedAt), oldestAgeMs: o.oldestQueuedAgeMs },
    instances: o.instances,
    lostLastHour: o.lostLastHour,
    endedPerMinute: o.ended.map((e) => ({
      minute: iso(e.minute),
      succeeded: e.succeeded,
      failed: e.failed,
      cancelled: e.cancelled,
      lost: e.lost,
    })),
  });

  const overviewView = (o: Awaited<ReturnType<typeof overview>>) => ({
    at: utc(o.now),
    atIso: iso(o.now),
    states: JOB_STATES.map((s) => ({
      state: s,
      label: STATE_LABELS[s],
      count: formatNumber(o.byState[s] ?? 0),
      url: `${ADMIN_ROUTE}/jobs?state=${s}`,
    })),
    types: typeNames.map((t) => ({
      name: t,
      title: jobType(t)?.title ?? t,
      count: formatNumber(o.byType[t] ?? 0),
      url: `${ADMIN_ROUTE}/jobs?type=${t}`,
      cells: JOB_STATES.map((s) => ({
        id: `count-${t}-${s}`,
        count: formatNumber(o.counts[t]![s]),
        url: `${ADMIN_ROUTE}/jobs?type=${t}&state=${s}`,
      })),
    })),
    stateLabels: JOB_STATES.map((s) => STATE_LABELS[s]),
    queueLength: formatNumber(o.queueLength),
    oldestAge: o.oldestQueuedAgeMs === null ? null : formatDuration(o.oldestQueuedAgeMs),
    instances: o.instances.map((i) => ({
      host: text(i.host),
      pid: text(i.pid),
      version: text(i.version),
      slots: `${formatNumber(Number(i.slotsUsed ?? 0))} of ${formatNumber(Number(i.slotsTotal ?? 0))}`,
      startedAt: typeof i.startedAt === "number" ? utc(i.startedAt) : "",
    })),
    lostLastHour: formatNumber(o.lostLastHour),
    refreshS: OVERVIEW_REFRESH_S,
  });

  router.get("/", async (ctx) => {
    ctx.vary("HX-Request");
    const o = await overview();
    if (wantsJson(ctx)) {
      ctx.body = overviewJson(o);
      return;
    }
    const view = overviewView(o);
    if (ctx.get("HX-Request") === "true") {
      ctx.state.kind = "fragment";
      await ctx.render("fragments/admin-overview", { o: view, layout: false });
      return;
    }
    const [durations, queue] = await Promise.all([store.durations(typeNames, o.now), store.queueSamples(o.now)]);
    await ctx.render("pages/admin-overview", {
      title: "Operator overview",
      o: view,
      charts: charts({ ended: o.ended, durations, queue }),
      typeOptions: JOB_TYPES.map((t) => ({ value: t.name, label: t.title })),
    });
  });

  // ------------------------------------------------------------ jobs list

  /** One page of rows; a search by parameter value reads on until the page is full or it has read PARAM_SEARCH_MAX jobs. */
  async function findRows(list: ReturnType<typeof parseFilters>["list"], limit: number, after: ListCursor | null, param: string) {
    if (!param) return { ...(await store.listJobs(list, limit, after)), examined: null as number | null, stopped: false };
    const rows: JobRow[] = [];
    let cursor = after;
    let examined = 0;
    while (examined < PARAM_SEARCH_MAX) {
      const page = await store.listJobs(list, Math.min(200, PARAM_SEARCH_MAX - examined), cursor);
      for (const row of page.rows) {
        examined++;
        cursor = { createdAt: row.createdAt, id: row.id };
        if (paramMatches(row, param)) {
          rows.push(row);
          if (rows.length === limit) return { rows, next: cursor, examined, stopped: false };
        }
      }
      if (!page.next) return { rows, next: null, examined, stopped: false };
      cursor = page.next;
    }
    return { rows, next: cursor, examined, stopped: true };
  }

  router.get("/jobs", async (ctx) => {
    const { filters, list, paramQuery } = parseFilters(ctx.query);
    const [found, now] = await Promise.all([findRows(list, filters.limit, filters.after, paramQuery), store.now()]);
    const nextUrl = found.next ? `${ADMIN_ROUTE}/jobs${filterQuery(filters, found.next)}` : null;
    if (wantsJson(ctx)) {
      ctx.body = {
        jobs: found.rows.map((r) => rowJson(r, now)),
        next: found.next ? cursorText(found.next) : null,
        nextUrl,
        ...(found.examined !== null ? { examined: found.examined, searchStopped: found.stopped } : {}),
      };
      return;
    }
    const filtered = Boolean(filters.state || filters.type || filters.from || filters.to || filters.id || filters.param);
    await ctx.render("pages/admin-jobs", {
      title: "Jobs",
      filters,
      filtered,
      states: JOB_STATES.map((s) => ({ value: s, label: STATE_LABELS[s] })),
      types: JOB_TYPES.map((t) => ({ value: t.name, label: t.title })),
      rows: found.rows.map((r) => rowView(r, now)),
      nextUrl,
      firstUrl: filters.after ? `${ADMIN_ROUTE}/jobs${filterQuery(filters, null)}` : null,
      examined: found.examined,
      stopped: found.stopped,
      bulk: {
        retryType: filters.type && (filters.state === "failed" || !filters.state) ? filters.type : "",
        cancelQueued: filters.state === "queued" || !filters.state,
      },
    });
  });

  // ------------------------------------------------------------ one job

  const jobId = (ctx: Context): string => {
    const id = (ctx.params as Record<string, string | undefined>).id;
    if (!isJobId(id)) throw new HttpError(404, "There is no job at this address.", { title: "Job not found" });
    return id;
  };
  const missing = () => new HttpError(404, "There is no such job: it has expired, was deleted, or never was.", { title: "Job not found" });

  router.get("/jobs/:id", async (ctx) => {
    const id = jobId(ctx);
    const job = await store.read(id, "all", { resultLimit: 100, logLines: 0 });
    if (!job) throw missing();
    const [files, log] = await Promise.all([isTerminal(job.state) ? store.listFiles(id) : Promise.resolve([]), store.readLog(id)]);
    const settings = { ...config, showJobInternals: true };
    const queuedMs = job.createdAt !== null ? (job.startedAt ?? job.finishedAt ?? job.readAt) - job.createdAt : null;
    const ranMs = job.startedAt !== null ? (job.finishedAt ?? job.readAt) - job.startedAt : null;
    if (wantsJson(ctx)) {
      ctx.body = {
        ...jobJson(job, files, settings),
        adminUrl: adminJobUrl(id),
        queuedMs,
        ranMs,
        retryOf: job.retryOf,
        retriedAs: job.retriedAs,
        log,
        logDropped: job.logDropped,
      };
      return;
    }
    const view = jobView(job, { settings, files });
    await ctx.render("pages/admin-job", {
      title: `${view.title} (operator view)`,
      job: view,
      id,
      state: job.state,
      ended: isTerminal(job.state),
      canCancel: !isTerminal(job.state) && job.cancelRequestedAt === null,
      canRetry: isTerminal(job.state) && jobType(job.type) !== undefined,
      params: Object.entries(job.params).map(([name, value]) => ({
        name,
        value: typeof value === "string" ? value : JSON.stringify(value),
      })),
      log,
      logDropped: job.logDropped,
      timings: {
        submitted: job.createdAt === null ? null : utc(job.createdAt),
        started: job.startedAt === null ? null : utc(job.startedAt),
        finished: job.finishedAt === null ? null : utc(job.finishedAt),
        queuedFor: queuedMs === null ? null : formatDuration(Math.max(0, queuedMs)),
        ranFor: ranMs === null ? null : formatDuration(Math.max(0, ranMs)),
      },
      process: { pid: job.pid, host: job.host, exitCode: job.exitCode, signal: job.signal, reason: job.reason, detail: job.detail },
      retryOf: job.retryOf ? adminJobUrl(job.retryOf) : null,
      retriedAs: job.retriedAs ? adminJobUrl(job.retriedAs) : null,
      retryOfId: job.retryOf,
      retriedAsId: job.retriedAs,
    });
  });

  // ------------------------------------------------------------ actions

  const done = (ctx: Context, json: object, to: string, status = 200) => {
    if (wantsJson(ctx)) {
      ctx.status = status;
      ctx.body = json;
      return;
    }
    ctx.status = 303;
    ctx.redirect(to);
  };

  /** Creates a job with an ended job's type and parameters, through the supervisor (queue limits apply); the new job's id. */
  async function retry(id: string): Promise<string> {
    const job = await store.read(id, "auto", { resultLimit: 1 });
    if (!job) throw missing();
    if (!isTerminal(job.state))
      throw new HttpError(409, `This job has not ended (it is ${job.state}): only an ended job can be retried.`, {
        title: "Not ended yet",
        code: "not-ended",
      });
    const type = jobType(job.type);
    if (!type)
      throw new HttpError(409, `This job's type (${job.type}) is not one this site runs: it cannot be retried.`, {
        title: "Cannot retry",
        code: "unknown-type",
      });
    const check = checkSubmission(type, config, job.params);
    if (!check.ok && job.uploads.length === 0) {
      throw new HttpError(409, "This job's parameters are no longer accepted by its form, so it cannot be retried as it was.", {
        title: "Cannot retry",
        code: "invalid-params",
      });
    }
    let newId: string | undefined;
    if (job.uploads.length > 0) {
      newId = newJobId();
      if (!(await store.copyUploads(id, newId, job.uploads))) {
        throw new HttpError(
          409,
          "The file uploaded for this job is no longer kept, so it cannot be retried. Start a new job with the file.",
          {
            title: "Cannot retry",
            code: "upload-gone",
          },
        );
      }
    }
    try {
      const created = await supervisor.submit({
        ...(newId ? { id: newId, uploads: job.uploads } : {}),
        type: type.name,
        params: job.params,
        total: check.ok ? check.total : 0,
        timeoutMs: type.timeoutMs ?? config.jobTimeoutMs,
        ttlSucceededS: type.ttlSucceededS,
        ttlFailedS: type.ttlFailedS,
        retryOf: id,
      });
      await store.markRetried(id, created);
      return created;
    } catch (err) {
      if (newId) await store.deleteUploads(newId, job.uploads).catch(() => {});
      if (err instanceof QueueFullError) {
        throw new HttpError(503, "The queue is full, so no job can be added now. Try again in a minute.", {
          title: "Too busy right now",
          headers: { "Retry-After": "30" },
          code: "queue-full",
        });
      }
      throw err;
    }
  }

  router.post("/jobs/:id/cancel", body, async (ctx) => {
    const id = jobId(ctx);
    const reply = await store.cancel(id, config.jobCancelGraceMs);
    if (reply.outcome === "missing") throw missing();
    if (reply.outcome === "finished")
      throw new HttpError(409, `This job has already ended (${reply.state}); there is nothing to cancel.`, { title: "Already ended" });
    done(ctx, { id, outcome: reply.outcome }, adminJobUrl(id), 202);
  });

  router.post("/jobs/:id/retry", body, async (ctx) => {
    const id = jobId(ctx);
    const created = await retry(id);
    done(ctx, { id, retriedAs: created, url: adminJobUrl(created) }, adminJobUrl(created), 201);
  });

  router.post("/jobs/:id/delete", body, async (ctx) => {
    const id = jobId(ctx);
    const reply = await store.delete(id);
    if (!reply.deleted) {
      if (!reply.state) throw missing();
      throw new HttpError(409, `This job has not ended (it is ${reply.state}): cancel it first, then delete it.`, {
        title: "Not ended yet",
        code: "not-ended",
      });
    }
    done(ctx, { id, deleted: true }, `${ADMIN_ROUTE}/jobs`);
  });

  // ------------------------------------------------------------ bulk actions

  const BULK = {
    "retry-failed": {
      title: (type: string) => `Retry every failed ${jobType(type)?.title ?? type} job`,
      states: ["failed"] as const,
      needsType: true,
    },
    "cancel-queued": {
      title: () => "Cancel every queued job",
      states: ["queued"] as const,
      needsType: false,
    },
  } as const;

  router.post("/bulk/:action", body, async (ctx) => {
    const action = ctx.params.action as keyof typeof BULK;
    const spec = BULK[action];
    if (!spec) throw new HttpError(404, "There is no such bulk action.", { title: "No such action" });
    const type = field(ctx, "type");
    if (spec.needsType && !jobType(type)) {
      throw new HttpError(400, `Choose a job type: one of ${typeNames.join(", ")}.`, { code: "bad-type" });
    }
    if (type && !jobType(type)) throw new HttpError(400, `There is no job type "${type}".`, { code: "bad-type" });
    const types = type ? [type] : typeNames;
    const count = await store.countIn(types, spec.states);
    const confirmed = field(ctx, "confirm") === "yes";
    const title = spec.title(type);
    if (count > BULK_CONFIRM_OVER && !confirmed) {
      if (wantsJson(ctx)) {
        ctx.status = 409;
        ctx.body = {
          error: "confirm",
          message: `This acts on ${count} jobs (more than ${BULK_CONFIRM_OVER}): send confirm=yes to go ahead.`,
          count,
          status: 409,
        };
        return;
      }
      await ctx.render("pages/admin-confirm", {
        title: `Confirm: ${title}`,
        heading: title,
        count: formatNumber(Math.min(count, BULK_MAX)),
        over: count > BULK_MAX ? formatNumber(BULK_MAX) : null,
        action: `${ADMIN_ROUTE}/bulk/${action}`,
        type,
        back: `${ADMIN_ROUTE}/jobs${type ? `?type=${type}&state=${spec.states[0]}` : `?state=${spec.states[0]}`}`,
      });
      return;
    }
    const ids = await store.allIds(types, spec.states, BULK_MAX);
    const report = {
      action,
      type: type || null,
      matched: ids.length,
      done: 0,
      skipped: 0,
      failed: 0,
      problems: [] as string[],
      created: [] as string[],
    };
    for (const id of ids) {
      try {
        if (action === "cancel-queued") {
          const reply = await store.cancel(id, config.jobCancelGraceMs);
          if (reply.outcome === "cancelled" || reply.outcome === "requested") report.done++;
          else report.skipped++;
        } else {
          const job = await store.read(id, "auto", { resultLimit: 1 });
          if (!job || job.state !== "failed" || job.retriedAs) {
            report.skipped++;
            continue;
          }
          report.created.push(await retry(id));
          report.done++;
        }
      } catch (err) {
        report.failed++;
        const message = err instanceof HttpError ? err.message : "an error on the server";
        if (report.problems.length < 20) report.problems.push(`${id}: ${message}`);
        // A full queue refuses every next one too: stop there.
        if (err instanceof HttpError && err.status === 503) break;
      }
    }
    if (wantsJson(ctx)) {
      ctx.body = report;
      return;
    }
    await ctx.render("pages/admin-report", {
      title: `Done: ${title}`,
      heading: title,
      report: {
        matched: formatNumber(report.matched),
        done: formatNumber(report.done),
        skipped: formatNumber(report.skipped),
        failed: formatNumber(report.failed),
        problems: report.problems,
        verb: action === "cancel-queued" ? "cancelled" : "retried",
      },
      back: `${ADMIN_ROUTE}/jobs${type ? `?type=${type}` : ""}`,
    });
  });

  return router;
}

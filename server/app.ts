// createApp(deps): the middleware order and the routes. It never listens:
// main.ts serves it through createRequestListener() (listener.ts), which
// answers the status poll before Koa.
import { myJobsRoutes } from "./routes/mine.ts";
import crypto from "node:crypto";
import Koa from "koa";
import type Router from "@koa/router";
import { send } from "@koa/send";
import type { Middleware } from "koa";
import type { AppDeps } from "./deps.ts";
import type { StoreWriteRefusedError } from "../jobs/core/store.ts";
import { errorHandler } from "./errors.ts";
import { clientErrorCode, logBug } from "./log.ts";
import { requestLog } from "./request-log.ts";
import { metricsRoutes } from "./metrics.ts";
import { sameOriginOnly, securityHeaders } from "./security.ts";
import { refuseEncodedBodies } from "./body.ts";
import { STATIC_DIR } from "./paths.ts";
import { formRoutes } from "./routes/forms.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { healthRoutes } from "./routes/health.ts";
import { apiRoutes } from "./routes/api.ts";
import { recentRoutes } from "./routes/recent.ts";
import { schemaRoutes } from "./routes/schemas.ts";
import { adminRoutes } from "./admin/index.ts";
import { ADMIN_ROUTE } from "./admin/view.ts";
import { timeZoneRoutes } from "./routes/time-zone.ts";
import { timeZoneState } from "./time-zone.ts";

export type { AppDeps };

function serveStatic(): Middleware {
  return async function staticFiles(ctx, next) {
    if ((ctx.method !== "GET" && ctx.method !== "HEAD") || !ctx.path.startsWith("/static/")) {
      await next();
      return;
    }
    const name = ctx.path.slice("/static/".length);
    // send() refuses an empty name with an error of its own (no status): no file, a 404.
    if (!name) return void (ctx.status = 404);
    ctx.set("Cache-Control", "public, max-age=3600");
    const sent = await send(ctx, name, { root: STATIC_DIR, hidden: false, index: false }).catch((err: { status?: number }) => {
      if (err.status === 404 || err.status === 400) return "";
      throw err;
    });
    if (!sent) ctx.status = 404;
  };
}

/**
 * The router's answer to a method its address does not take: 405 with
 * Allow. The router answers 501 to a method no route of it takes at all
 * (TRACE, PROPFIND): that is a 405 too, for an address that exists.
 */
function allowedMethods(router: Router): Middleware {
  const allowed = router.allowedMethods() as unknown as Middleware;
  return async function methodNotAllowed(ctx, next) {
    await allowed(ctx, next);
    if (ctx.status === 501) ctx.status = ctx.response.get("Allow") ? 405 : 404;
  };
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: false });
  // Signs cookies: the recent-jobs list's and the operator's session. Without
  // SESSION_SECRET, a key of this process's own: the recent-jobs cookie is
  // then refused by other instances and after a restart (see docs/operations.md, "Your
  // recent jobs"); /admin needs the setting (config.ts).
  app.keys = [deps.config.sessionSecret ?? crypto.randomBytes(32).toString("base64url")];
  const { logger } = deps.telemetry;
  // A client that went away mid-answer is not a bug (the HTTP server counts those); anything else is.
  app.on("error", (err) => {
    if (!clientErrorCode(err)) logBug(err, logger);
  });
  // Redis refusing writes: one warning when it starts, then every 30 s at most (redis-memory.ts).
  app.on("store-refused", (err: StoreWriteRefusedError) => deps.memory.refused(err));

  app.use(requestLog(logger, deps.telemetry.polls));
  app.use(errorHandler(deps.renderer));
  app.use(securityHeaders());
  app.use(serveStatic());
  app.use(sameOriginOnly());
  app.use(refuseEncodedBodies());
  app.use(deps.renderer.middleware());
  // Who is asking: ctx.state.user, from a trusted proxy's headers only (identity.ts).
  app.use(deps.identity.middleware());
  // The reader's zone for the layout's footer (a signed-in person's, once single sign-on sets ctx.state.user: before this).
  app.use(timeZoneState({ except: ADMIN_ROUTE }));
  // The forms first: /jobs/new/:type is not a job's address.
  // /admin exists only with an operator's password or named operators (else it is a 404 like any unknown address).
  const admin = deps.config.admin || deps.config.adminUsers.length > 0 ? [adminRoutes(deps)] : [];
  for (const router of [
    formRoutes(deps),
    // Before the job routes: /jobs/mine is not a job's address.
    myJobsRoutes(deps),
    jobRoutes(deps),
    healthRoutes(deps),
    recentRoutes(deps),
    timeZoneRoutes(),
    apiRoutes(deps.types),
    schemaRoutes(),
    metricsRoutes(deps.telemetry.metrics, deps.config.metricsToken),
    ...admin,
  ]) {
    app.use(router.routes());
    app.use(allowedMethods(router));
  }
  return app;
}

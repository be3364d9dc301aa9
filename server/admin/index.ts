// The operator's pages under /admin, mounted only when a password is set
// (ADMIN_PASSWORD or ADMIN_PASSWORD_HASH; otherwise /admin is a 404). One
// module per section: the session (login, logout, log out everywhere), the overview, the jobs
// list, a job's admin view, the actions on one job, the bulk actions. Every
// section but the session is mounted here, behind requireSession. Every page
// answers JSON under Accept: application/json; every POST has passed the
// same-origin check (security.ts) before it gets here.
import Router from "@koa/router";
import type { Context, Next } from "koa";
import type { AppDeps } from "../deps.ts";
import { AdminAuth } from "./auth.ts";
import { LoginThrottle } from "./login-throttle.ts";
import { actionRoutes } from "./actions.ts";
import { bulkRoutes } from "./bulk.ts";
import { adminJobRoutes } from "./job.ts";
import { jobsListRoutes } from "./jobs-list.ts";
import { overviewRoutes } from "./overview.ts";
import { requireSession, sessionRoutes } from "./session.ts";
import { ADMIN_ROUTE } from "./view.ts";

export function adminRoutes(deps: AppDeps): Router {
  const { config, store } = deps;
  if (!config.admin || !config.sessionSecret) throw new Error("adminRoutes needs an admin password and SESSION_SECRET");
  const auth = new AdminAuth(config.admin, config.sessionSecret, store);
  const router = new Router({ prefix: ADMIN_ROUTE });

  router.use(async (ctx: Context, next: Next) => {
    ctx.set("Cache-Control", "no-store");
    ctx.set("X-Robots-Tag", "noindex");
    ctx.vary("Accept");
    await next();
  });

  sessionRoutes(router, auth, new LoginThrottle(store), config.trustProxyHops);
  // Everything below needs a session.
  router.use(requireSession(auth));
  overviewRoutes(router, deps);
  jobsListRoutes(router, deps);
  adminJobRoutes(router, deps);
  actionRoutes(router, deps);
  bulkRoutes(router, deps);
  return router;
}

// The operator's pages under /admin, mounted only when a password is set
// (ADMIN_PASSWORD or ADMIN_PASSWORD_HASH) or operators are named
// (ADMIN_USERS, with sign-in through the site's proxy); otherwise /admin is
// a 404. One module per section: the session (login, logout, log out
// everywhere), the overview, the jobs list, a job's admin view, the actions
// on one job, the bulk actions, the audit trail of those actions. Every
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
import { auditRoutes } from "./audit.ts";
import { ADMIN_ROUTE } from "./view.ts";

export function adminRoutes(deps: AppDeps): Router {
  const { config, store, identity } = deps;
  // The password's login, when there is a password; operators named in ADMIN_USERS need none.
  const auth = config.admin && config.sessionSecret ? new AdminAuth(config.admin, config.sessionSecret, store) : null;
  if (!auth && config.adminUsers.length === 0) throw new Error("adminRoutes needs an admin password and SESSION_SECRET, or ADMIN_USERS");
  const router = new Router({ prefix: ADMIN_ROUTE });

  router.use(async (ctx: Context, next: Next) => {
    ctx.set("Cache-Control", "no-store");
    ctx.set("X-Robots-Tag", "noindex");
    ctx.vary("Accept");
    // The navigation offers to log out only of a password's session.
    ctx.state.adminPassword = auth !== null;
    await next();
  });

  if (auth) sessionRoutes(router, auth, new LoginThrottle(store), config.trustProxyHops, identity);
  // Everything below needs an operator.
  router.use(requireSession(auth, identity));
  overviewRoutes(router, deps);
  jobsListRoutes(router, deps);
  adminJobRoutes(router, deps);
  actionRoutes(router, deps);
  bulkRoutes(router, deps);
  auditRoutes(router, deps);
  return router;
}

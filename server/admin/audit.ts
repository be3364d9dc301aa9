// The operators' audit trail: each action on jobs (cancel, retry, delete, a
// bulk action) is written to Redis (jobs/core/store/audit.ts) and to the log
// (an `operator-action` line), naming who took it: the operator signed in by
// the site's proxy (ADMIN_USERS), or the shared password's session. GET
// /admin/audit shows the newest entries. A trail that cannot be written
// (Redis refusing writes) does not undo the action: the log line still
// carries it, with a warning.
import type Router from "@koa/router";
import type { Context } from "koa";
import { AUDIT_JOBS_MAX, type AuditEntry } from "../../jobs/core/store.ts";
import type { AppDeps } from "../deps.ts";
import { userOf } from "../identity.ts";
import { wantsJson } from "../negotiate.ts";
import { formatNumber } from "../../jobs/core/format.ts";
import { adminJobUrl, utc } from "./view.ts";

/** Entries the page shows: the newest. */
const AUDIT_SHOWN = 200;

/** Who is acting: a named operator, else the shared password's session (naming the signed-in person, if any). */
export function operatorName(ctx: Context, deps: Pick<AppDeps, "identity">): string {
  const user = userOf(ctx);
  if (user && deps.identity.isOperator(user)) return user.name;
  return user ? `${user.name} (with the operator password)` : "the operator password";
}

/** Writes one action to the trail and the log. */
export async function recordAction(
  ctx: Context,
  deps: Pick<AppDeps, "identity" | "store" | "telemetry">,
  action: string,
  jobs: readonly string[],
  outcome: string,
): Promise<void> {
  const entry: AuditEntry = {
    at: Date.now(),
    who: operatorName(ctx, deps),
    action,
    jobs: jobs.slice(0, AUDIT_JOBS_MAX),
    count: jobs.length,
    outcome,
  };
  const { logger } = deps.telemetry;
  logger.info(
    { event: "operator-action", who: entry.who, action, jobs: entry.jobs, count: entry.count, outcome },
    `${entry.who}: ${action}, ${outcome}`,
  );
  try {
    await deps.store.appendAudit(entry);
  } catch (err) {
    logger.warn(
      { event: "audit-not-written", action, err: (err as Error).message },
      "the audit trail could not be written; the log line above has the action",
    );
  }
}

export function auditRoutes(router: Router, deps: AppDeps): void {
  router.get("/audit", async (ctx) => {
    const entries = await deps.store.readAudit(AUDIT_SHOWN);
    if (wantsJson(ctx)) {
      ctx.body = { entries };
      return;
    }
    await ctx.render("pages/admin-audit", {
      title: "Audit trail",
      entries: entries.map((e) => ({
        at: new Date(e.at).toISOString(),
        when: utc(e.at),
        who: e.who,
        action: e.action,
        outcome: e.outcome,
        jobs: e.jobs.slice(0, 5).map((id) => ({ id, url: adminJobUrl(id) })),
        more: e.count > 5 ? `and ${formatNumber(e.count - 5)} more` : null,
      })),
      shown: AUDIT_SHOWN,
    });
  });
}

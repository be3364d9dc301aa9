// GET /admin/jobs: the jobs list, filtered by state, type, time, id prefix
// and parameter value (view.ts reads the filters), a page at a time.
import type Router from "@koa/router";
import { JOB_STATES, type JobRow, type JobStore, type ListCursor } from "../../jobs/core/store.ts";
import { STATE_LABELS } from "../job-words.ts";
import { wantsJson } from "../negotiate.ts";
import type { AppDeps } from "../deps.ts";
import { ADMIN_ROUTE, cursorText, filterQuery, PARAM_SEARCH_MAX, paramMatches, parseFilters, rowJson, rowView } from "./view.ts";

/** One page of rows; a search by parameter value reads on until the page is full or it has read PARAM_SEARCH_MAX jobs. */
async function findRows(
  store: JobStore,
  list: ReturnType<typeof parseFilters>["list"],
  limit: number,
  after: ListCursor | null,
  param: string,
) {
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

export function jobsListRoutes(router: Router, { store, registry }: AppDeps): void {
  router.get("/jobs", async (ctx) => {
    const { filters, list, paramQuery } = parseFilters(ctx.query, registry);
    const [found, now] = await Promise.all([findRows(store, list, filters.limit, filters.after, paramQuery), store.now()]);
    const nextUrl = found.next ? `${ADMIN_ROUTE}/jobs${filterQuery(filters, found.next)}` : null;
    if (wantsJson(ctx)) {
      ctx.body = {
        jobs: found.rows.map((r) => rowJson(r, now, registry)),
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
      states: JOB_STATES.map((s) => ({ value: s, label: STATE_LABELS.operator[s] })),
      types: registry.map((t) => ({ value: t.name, label: t.title })),
      rows: found.rows.map((r) => rowView(r, now, registry)),
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
}

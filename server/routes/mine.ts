// "My jobs": GET /jobs/mine lists the signed-in person's jobs (server/identity.ts),
// newest first, from Redis (their set in each partition: jobs/core/store/list.ts,
// userJobs), on any device they sign in from: a page, or JSON for a JSON
// client. It filters by state and type (plain GET parameters: a form that
// works without JavaScript) and goes on a page at a time (?after=); a filter
// or page it does not know is a 400 that says what it takes. Without
// sign-in on the site it does not exist (404); a request that is not signed
// in is told so (401).
import Router from "@koa/router";
import type { Context } from "koa";
import { isJobId, isTerminal, JOB_STATES, type ListCursor } from "../../jobs/core/store.ts";
import type { Params } from "../../jobs/core/fields.ts";
import type { RecentJob } from "../api-schemas.ts";
import type { AppDeps } from "../deps.ts";
import { HttpError } from "../errors.ts";
import { userOf } from "../identity.ts";
import { jobTitle, phaseOf, relativeTime, stateLabel } from "../job-view.ts";
import { STATE_LABELS } from "../job-words.ts";
import { wantsJson } from "../negotiate.ts";
import { jobUrl, MY_JOBS_URL } from "../urls.ts";

/** Jobs on one page. */
export const MY_JOBS_PAGE = 25;

/** A bad filter or page: 400, saying what it takes. */
const badFilter = (message: string) => new HttpError(400, message, { title: "That list cannot be shown", code: "bad-filter" });

/** A page's position: "<createdAt>-<id>" of the last job of the page before; none when not given. */
function readCursor(value: unknown): ListCursor | null {
  if (value === undefined || value === "") return null;
  const match = typeof value === "string" ? /^(\d{1,16})-([0-9a-f]{32})$/.exec(value) : null;
  if (!match || !isJobId(match[2])) throw badFilter("The page asked for (after) is not one this list gave: start from its first page.");
  return { createdAt: Number(match[1]), id: match[2] };
}

/** One value of a GET parameter, one of `allowed`; none when not given or empty (the form's "Any"). */
function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T | null {
  if (value === undefined || value === "") return null;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw badFilter(`The ${name} filter takes one of: ${allowed.join(", ")}.`);
}

export function myJobsRoutes({ store, registry, types, identity }: AppDeps): Router {
  const router = new Router();
  if (!identity.enabled) return router;

  router.get(MY_JOBS_URL, async (ctx: Context) => {
    ctx.set("Cache-Control", "no-store");
    ctx.vary("Accept");
    const user = userOf(ctx);
    if (!user) {
      throw new HttpError(401, "Sign in through this site to see your jobs: this request did not come signed in.", {
        title: "Not signed in",
        code: "unauthenticated",
      });
    }
    const state = oneOf("state", ctx.query.state, JOB_STATES);
    const typeNames = registry.map((t) => t.name);
    const type = oneOf("type", ctx.query.type, typeNames);
    const after = readCursor(ctx.query.after);
    const page = await store.userJobs(user.name, { states: state ? [state] : [], types: type ? [type] : [] }, MY_JOBS_PAGE, after);
    const now = Date.now();
    const jobs: RecentJob[] = page.rows.map((row) => ({
      id: row.id,
      url: jobUrl(row.id),
      type: row.type,
      title: jobTitle(row.type, row.params as Params, registry),
      state: row.state,
      phase: phaseOf(row),
      stateLabel: stateLabel(row),
      finished: isTerminal(row.state),
      createdAt: new Date(row.createdAt).toISOString(),
      submittedText: relativeTime(Math.max(0, now - row.createdAt)),
    }));
    const query = (extra: Record<string, string>) => {
      const params = new URLSearchParams({ ...(state ? { state } : {}), ...(type ? { type } : {}), ...extra });
      const text = params.toString();
      return text === "" ? MY_JOBS_URL : `${MY_JOBS_URL}?${text}`;
    };
    const next = page.next ? query({ after: `${page.next.createdAt}-${page.next.id}` }) : null;
    if (wantsJson(ctx)) {
      ctx.body = { user: user.name, jobs, next };
      return;
    }
    await ctx.render("pages/my-jobs", {
      title: "My jobs",
      user,
      jobs,
      next,
      first: after ? query({}) : null,
      state,
      type,
      // The words the list's rows use for each state (the public pages').
      states: JOB_STATES.map((value) => ({ value, label: STATE_LABELS.public[value] })),
      types: types.map((t) => ({ value: t.name, label: t.title })),
      filtered: state !== null || type !== null,
    });
  });
  return router;
}

// This browser's recent jobs (server/recent.ts): GET /recent lists them
// (JSON; a browser is sent to the list on the start page), and
// POST /recent/remove takes one off the list (a plain form: it works
// without JavaScript, and passes the same-origin check like every POST).
import Router from "@koa/router";
import { bodyParser } from "@koa/bodyparser";
import { isJobId } from "../../jobs/core/store.ts";
import { HttpError } from "../errors.ts";
import { wantsJson } from "../negotiate.ts";
import { forgetJob, recentJobs, recentMaxAgeMs } from "../recent.ts";
import type { AppDeps } from "../deps.ts";

export const RECENT_URL = "/recent";
export const REMOVE_RECENT_URL = "/recent/remove";

export function recentRoutes({ store, config, registry }: AppDeps): Router {
  const router = new Router();
  const maxAgeMs = recentMaxAgeMs(config, registry);

  router.get(RECENT_URL, async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.vary("Accept");
    if (!wantsJson(ctx)) {
      ctx.status = 303;
      ctx.redirect("/#recent-jobs");
      return;
    }
    const list = await recentJobs(ctx, store, maxAgeMs, registry);
    if (list.unavailable)
      throw new HttpError(503, "Your recent jobs cannot be read right now. Please try again in a moment.", {
        headers: { "Retry-After": "5" },
      });
    ctx.body = { jobs: list.jobs };
  });

  router.post(
    REMOVE_RECENT_URL,
    bodyParser({ enableTypes: ["form", "json"], formLimit: 1024, jsonLimit: 1024, encoding: "utf-8" }),
    (ctx) => {
      const body = (ctx.request as { body?: unknown }).body;
      const id = body && typeof body === "object" ? (body as Record<string, unknown>).id : undefined;
      if (!isJobId(id)) {
        throw new HttpError(400, "Say which job to remove from your list: send its id.", {
          code: "invalid-input",
        });
      }
      const removed = forgetJob(ctx, id, maxAgeMs);
      if (wantsJson(ctx)) {
        ctx.body = { id, removed };
        return;
      }
      ctx.status = 303;
      ctx.redirect("/#recent-jobs");
    },
  );
  return router;
}

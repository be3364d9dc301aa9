// The time zone page: GET /settings/time-zone shows which zone this site's
// times are shown in, with a plain form (no JavaScript) to choose another;
// POST keeps the choice in a cookie (server/time-zone.ts) and goes back (303)
// to the page the form was opened from, a path on this site only, never
// another site. A zone the runtime does not know is refused with 400, and
// nothing is kept: the page again, saying so (JSON for a JSON client).
import Router from "@koa/router";
import { bodyParser } from "@koa/bodyparser";
import type { Context } from "koa";
import { HttpError } from "../errors.ts";
import { wantsJson } from "../negotiate.ts";
import { exactAt } from "../job-times.ts";
import { backPath, keepZone, timeZoneOf, TIME_ZONE_URL, zoneGroups, zoneOf } from "../time-zone.ts";

/** The form's body: a zone's name and a path, well under 1 kB; 4 kB leaves room for a long path, percent-encoded. */
const BODY_LIMIT = 4096;

export function timeZoneRoutes(): Router {
  const router = new Router();

  router.get(TIME_ZONE_URL, async (ctx) => {
    await page(ctx, backPath(ctx.query.back), null);
  });

  router.post(TIME_ZONE_URL, bodyParser({ enableTypes: ["form"], formLimit: BODY_LIMIT, encoding: "utf-8" }), async (ctx) => {
    const body = (ctx.request as { body?: unknown }).body;
    const sent = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
    const back = backPath(sent.back);
    const zone = timeZoneOf(sent.zone);
    if (zone === null) {
      const message =
        typeof sent.zone === "string" && sent.zone !== ""
          ? `"${sent.zone.slice(0, 64)}" is not a time zone this site knows. Choose one from the list.`
          : "Choose a time zone from the list.";
      if (wantsJson(ctx)) throw new HttpError(400, message, { code: "bad-time-zone" });
      ctx.status = 400;
      await page(ctx, back, message);
      return;
    }
    keepZone(ctx, zone);
    ctx.status = 303;
    ctx.redirect(back);
  });
  return router;
}

/** The page, with the zone in use now (the cookie's, unchanged after a refusal). */
async function page(ctx: Context, back: string, error: string | null): Promise<void> {
  // What it shows depends on this browser's cookie and on the time: nothing may keep it.
  ctx.set("Cache-Control", "no-store");
  const zone = zoneOf(ctx);
  await ctx.render("pages/time-zone", {
    title: "Time zone",
    zone,
    now: exactAt(Date.now(), zone),
    groups: zoneGroups(),
    action: TIME_ZONE_URL,
    back,
    error,
  });
}

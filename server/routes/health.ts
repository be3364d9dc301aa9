// GET /healthz: 200 when Redis answers and accepts writes, 503 when it does
// not answer or refuses writes (out of memory...). The JSON says how full
// Redis is (`memory`), and whether new jobs and uploads are accepted
// (`accepting`: false from REDIS_MEMORY_REFUSE_PERCENT on; still a 200, as
// what runs and every page still work). A 503 says when to ask again
// (Retry-After), as the other answers do for the same outage (errors.ts):
// 5 s while Redis does not answer, 30 s while it refuses writes.
import Router from "@koa/router";
import type { AppDeps } from "../deps.ts";

/** Seconds before asking again while Redis does not answer, and while it refuses writes. */
export const UNREACHABLE_RETRY_AFTER_S = "5";
export const REFUSING_RETRY_AFTER_S = "30";

export function healthRoutes({ store, memory }: AppDeps): Router {
  const router = new Router();
  router.get("/healthz", async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    try {
      await store.ping();
    } catch {
      ctx.status = 503;
      ctx.set("Retry-After", UNREACHABLE_RETRY_AFTER_S);
      ctx.body = { status: "unavailable", redis: "unreachable" };
      return;
    }
    const facts = await memory.facts().catch(() => null);
    const refusing = memory.refusingWrites() || (facts?.usedPercent ?? 0) >= 100;
    const report = {
      memory: facts && { ...facts, refusePercent: memory.refusePercent },
      accepting: facts ? !memory.isFull(facts) && !refusing : !refusing,
    };
    if (refusing) {
      ctx.status = 503;
      ctx.set("Retry-After", REFUSING_RETRY_AFTER_S);
      ctx.body = { status: "unavailable", redis: "refusing-writes", ...report };
    } else {
      ctx.body = { status: "ok", redis: "ok", ...report };
    }
  });
  return router;
}

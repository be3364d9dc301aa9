// GET /healthz: 200 when Redis answers and accepts writes, 503 when it does
// not answer or refuses writes (out of memory...). The JSON says how full
// Redis is (`memory`), and whether new jobs and uploads are accepted
// (`accepting`: false from REDIS_MEMORY_REFUSE_PERCENT on; still a 200, as
// what runs and every page still work).
import Router from "@koa/router";
import type { AppDeps } from "../deps.ts";

export function healthRoutes({ store, memory }: AppDeps): Router {
  const router = new Router();
  router.get("/healthz", async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    try {
      await store.ping();
    } catch {
      ctx.status = 503;
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
      ctx.body = { status: "unavailable", redis: "refusing-writes", ...report };
    } else {
      ctx.body = { status: "ok", redis: "ok", ...report };
    }
  });
  return router;
}

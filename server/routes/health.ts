// GET /healthz: 200 when Redis answers, 503 when it does not.
import Router from "@koa/router";
import type { AppDeps } from "../deps.ts";

export function healthRoutes({ store }: AppDeps): Router {
  const router = new Router();
  router.get("/healthz", async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    try {
      await store.ping();
      ctx.body = { status: "ok", redis: "ok" };
    } catch {
      ctx.status = 503;
      ctx.body = { status: "unavailable", redis: "unreachable" };
    }
  });
  return router;
}

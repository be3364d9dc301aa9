// createApp(deps): the middleware order and the routes. It never listens:
// main.ts does that, and tests drive app.callback() or their own listener.
import type { IncomingMessage, ServerResponse } from "node:http";
import Koa from "koa";
import { send } from "@koa/send";
import type { Context, Middleware } from "koa";
import type { Config } from "./config.ts";
import type { JobStore } from "../jobs/store.ts";
import type { Renderer } from "./render.ts";
import type { Supervisor } from "./supervisor/index.ts";
import { errorHandler } from "./errors.ts";
import { sameOriginOnly, securityHeaders } from "./security.ts";
import { STATIC_DIR } from "./paths.ts";
import { countRoutes } from "./routes/count.ts";
import { jobRoutes, statusFragment } from "./routes/jobs.ts";
import { healthRoutes } from "./routes/health.ts";

export interface AppDeps {
  config: Config;
  store: JobStore;
  supervisor: Supervisor;
  renderer: Renderer;
}

function serveStatic(): Middleware {
  return async function staticFiles(ctx, next) {
    if ((ctx.method !== "GET" && ctx.method !== "HEAD") || !ctx.path.startsWith("/static/")) return next();
    ctx.set("Cache-Control", "public, max-age=3600");
    const sent = await send(ctx, ctx.path.slice("/static/".length), { root: STATIC_DIR, hidden: false, index: false }).catch(
      (err: { status?: number }) => {
        if (err.status === 404 || err.status === 400) return "";
        throw err;
      },
    );
    if (!sent) ctx.status = 404;
  };
}

const STATUS_URL = /^\/jobs\/([0-9a-f]{32})\/status(?:\?(.*))?$/;

/**
 * The status poll, answered before Koa. Every open status page asks every 2 s,
 * so this is the request a server sees most. It passes none of the middleware
 * it does not need (error handler, static files, same-origin check, views,
 * routers). Measured with bench/profile.ts (20 running jobs, 50 connections,
 * alternating runs): server CPU per poll 117-119 us through Koa, 84-102 us
 * here. Same headers and bodies as the route in routes/jobs.ts; anything but
 * the common case (no such job, Redis unreachable, a failure while rendering)
 * is handed to Koa, which answers it as before.
 */
function withFastStatus(app: Koa, deps: AppDeps): void {
  // The security headers, taken from the middleware itself so they cannot drift.
  const headers: Record<string, string> = {};
  void securityHeaders()({ set: (name: string, value: string) => void (headers[name] = value) } as unknown as Context, async () => {});
  headers["Cache-Control"] = "no-store";
  headers["Content-Type"] = "text/html; charset=utf-8";


  const koaCallback = app.callback.bind(app);
  app.callback = () => {
    const koa = koaCallback() as (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    return ((req: IncomingMessage, res: ServerResponse) => {
      const match = req.method === "GET" ? STATUS_URL.exec(req.url ?? "") : null;
      if (!match) return koa(req, res);
      const id = match[1]!;
      return deps.store
        .read(id, "auto")
        .then((job) => {
          if (!job) return koa(req, res);
          // As Koa's ctx.query: a repeated ?shown= is not a string, so it announces.
          const shown = match[2] === undefined ? [] : new URLSearchParams(match[2]).getAll("shown");
          const answer = statusFragment(deps.renderer, job, shown.length === 1 ? shown[0] : shown.length ? shown : undefined);
          res.writeHead(answer.status, answer.message, { ...headers, "Content-Length": Buffer.byteLength(answer.body) });
          res.end(answer.body);
        })
        .catch(() => (res.headersSent ? undefined : koa(req, res)));
    }) as ReturnType<Koa["callback"]>;
  };
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: false });
  app.on("error", (err) => {
    process.stderr.write(`${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
  });

  app.use(errorHandler(deps.renderer));
  app.use(securityHeaders());
  app.use(serveStatic());
  app.use(sameOriginOnly());
  app.use(deps.renderer.middleware());
  for (const router of [countRoutes(deps), jobRoutes(deps), healthRoutes(deps)]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  withFastStatus(app, deps);
  return app;
}

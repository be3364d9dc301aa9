// GET /api/openapi.json: the JSON API's OpenAPI 3.1 document, made from the
// declarations of the job types this deployment offers (server/openapi.ts).
import fs from "node:fs";
import path from "node:path";
import Router from "@koa/router";
import type { JobType } from "../../jobs/core/job-type.ts";
import { openApiDocument } from "../openapi.ts";
import { ROOT } from "../paths.ts";

/** types: the types this deployment offers; the document describes those only. */
export function apiRoutes(types: readonly JobType[]): Router {
  const router = new Router();
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
  const body = JSON.stringify(openApiDocument(types, version), null, 2);
  router.get("/api/openapi.json", (ctx) => {
    ctx.type = "application/json";
    ctx.set("Cache-Control", "no-cache");
    ctx.body = body;
  });
  return router;
}

// GET /api/openapi.json: the JSON API's OpenAPI 3.1 document, made from the
// job types' declarations (server/openapi.ts).
import fs from "node:fs";
import path from "node:path";
import Router from "@koa/router";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import { openApiDocument } from "../openapi.ts";
import { ROOT } from "../paths.ts";

export function apiRoutes(): Router {
  const router = new Router();
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
  const body = JSON.stringify(openApiDocument(JOB_TYPES, version), null, 2);
  router.get("/api/openapi.json", (ctx) => {
    ctx.type = "application/json";
    ctx.set("Cache-Control", "no-cache");
    ctx.body = body;
  });
  return router;
}

// GET /schemas/job.json: the JSON Schema of a job type's job.json
// (jobs/core/manifest.ts), for an editor to check a manifest as it is typed
// ("$schema": "https://<this app>/schemas/job.json"). It changes only with
// the app's code: cached for an hour, then asked again with its ETag. Anyone
// may read it, from any origin: it holds nothing of the deployment's.
import Router from "@koa/router";
import { manifestSchema, MANIFEST_SCHEMA_PATH } from "../../jobs/core/manifest.ts";
import { etagOf, notModified } from "../etag.ts";

export const SCHEMA_MEDIA_TYPE = "application/schema+json";

export function schemaRoutes(): Router {
  const router = new Router();
  const body = JSON.stringify(manifestSchema(), null, 2);
  const etag = etagOf(body);
  router.get(MANIFEST_SCHEMA_PATH, (ctx) => {
    const fresh = notModified(ctx, etag);
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.set("Access-Control-Allow-Origin", "*");
    if (fresh) return;
    ctx.type = SCHEMA_MEDIA_TYPE;
    ctx.body = body;
  });
  return router;
}

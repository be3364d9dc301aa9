// GET /api/openapi.json: made from the job types' declarations, and every
// path it documents is one the app answers as documented.
import test from "ava";
import { jsonSchema } from "../../jobs/core/fields.ts";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import { formAction } from "../../server/urls.ts";
import { useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const app = useApp(test, { redis, name: "openapi" });

interface Doc {
  openapi: string;
  paths: Record<
    string,
    Record<string, { requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, unknown> }>
  >;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
}

async function doc(): Promise<Doc> {
  const res = await app.get("/api/openapi.json");
  if (res.status !== 200) throw new Error(`GET /api/openapi.json: ${res.status}`);
  return (await res.json()) as Doc;
}

test("the document is OpenAPI 3.1 with a submit operation per job type, its schema taken from the type's fields", async (t) => {
  const d = await doc();
  t.is(d.openapi, "3.1.0");
  for (const type of JOB_TYPES) {
    const op = d.paths[formAction(type)]?.post;
    t.truthy(op, `${type.name}: ${formAction(type)}`);
    const content = op!.requestBody!.content;
    const media = type.fields.some((f) => f.kind === "file") ? "multipart/form-data" : "application/json";
    t.deepEqual(content[media]?.schema, jsonSchema(type.fields), type.name);
    t.truthy(op!.responses["202"] && op!.responses["422"]);
  }
  t.deepEqual(d.components.schemas.Job!.properties!.type, {
    type: "string",
    enum: JOB_TYPES.map((ty) => ty.name),
    description: "The job type (a record of another type is shown, never run).",
  });
});

test("what the document says a submission answers is what the app answers: 202 with the job's addresses, then the job as documented", async (t) => {
  const d = await doc();
  const count = JOB_TYPES.find((type) => type.name === "count")!;
  const res = await fetch(app.url + formAction(count), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ start: 1, end: 3, increment: 1 }),
  });
  t.is(res.status, 202);
  const created = (await res.json()) as Record<string, string>;
  const required = (d.components.schemas.Created as { required: string[] }).required;
  for (const key of required) t.is(typeof created[key], "string", key);
  const job = (await (await fetch(app.url + created.url!, { headers: { Accept: "application/json" } })).json()) as Record<string, unknown>;
  const documented = Object.keys(d.components.schemas.Job!.properties!);
  for (const key of Object.keys(job)) t.true(documented.includes(key), `the job's ${key} is documented`);
  const bad = await fetch(app.url + formAction(count), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: "{}",
  });
  t.is(bad.status, 422);
  t.like(await bad.json(), { error: "invalid-input" });
});

test("the recent-jobs list is documented as the app answers it, and /metrics with its bearer token", async (t) => {
  const d = await doc();
  t.truthy(d.paths["/recent"]?.get);
  t.truthy(d.paths["/recent/remove"]?.post);
  t.deepEqual(Object.keys(d.paths["/metrics"]!.get!.responses).sort(), ["200", "401", "404"]);
  const count = JOB_TYPES.find((type) => type.name === "count")!;
  const res = await fetch(app.url + formAction(count), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ start: 1, end: 3, increment: 1 }),
  });
  t.is(res.status, 202);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const recent = (await (await app.get("/recent", { Accept: "application/json", Cookie: cookie })).json()) as {
    jobs: Record<string, unknown>[];
  };
  t.is(recent.jobs.length, 1);
  const schema = d.components.schemas.RecentJob as { required: string[]; properties: Record<string, unknown> };
  for (const key of schema.required) t.true(key in recent.jobs[0]!, `${key} is in the answer`);
  for (const key of Object.keys(recent.jobs[0]!)) t.true(key in schema.properties, `${key} is documented`);
});

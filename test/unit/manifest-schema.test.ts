// The JSON Schema of job.json (manifestSchema(), jobs/core/manifest.ts): a
// valid 2020-12 schema, committed as docs/job.schema.json (regenerated with
// `npm run schema`), served at /schemas/job.json, and one the example types
// of docs/examples/types/ meet, as the loader does.
import fs from "node:fs";
import path from "node:path";
import type { AddressInfo } from "node:net";
import test from "ava";
import Koa from "koa";
import { Ajv2020 } from "ajv/dist/2020.js";
import { ROOT } from "../../server/paths.ts";
import { loadTypeFolders, manifestProblems, manifestSchema, MANIFEST_SCHEMA_PATH } from "../../jobs/core/manifest.ts";
import { schemaRoutes, SCHEMA_MEDIA_TYPE } from "../../server/routes/schemas.ts";

const SCHEMA_FILE = path.join(ROOT, "docs", "job.schema.json");
const EXAMPLES_DIR = path.join(ROOT, "docs", "examples", "types");
const EXAMPLES = ["checksum", "column-summary", "line-stats"];

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
const example = (name: string) => readJson(path.join(EXAMPLES_DIR, name, "job.json"));

function validator() {
  // Strict: a keyword 2020-12 does not know (a draft 7 leftover) is an error, not ignored.
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  return ajv.compile(manifestSchema());
}

test("docs/job.schema.json is what manifestSchema() makes (else: npm run schema)", (t) => {
  t.deepEqual(
    readJson(SCHEMA_FILE),
    manifestSchema(),
    "docs/job.schema.json is behind jobs/core/manifest.ts: run `npm run schema` and commit the file",
  );
});

test("the schema is a valid JSON Schema 2020-12 that Ajv compiles in strict mode", (t) => {
  const ajv = new Ajv2020({ strict: true });
  t.true(ajv.validateSchema(manifestSchema()), JSON.stringify(ajv.errors));
  t.notThrows(() => validator());
  t.is(manifestSchema().$id, MANIFEST_SCHEMA_PATH);
});

test("the example types of docs/examples/types meet the schema and load, with no problem", (t) => {
  const validate = validator();
  for (const name of EXAMPLES) {
    t.true(validate(example(name)), `${name}: ${JSON.stringify(validate.errors)}`);
    t.deepEqual(manifestProblems(example(name)), [], name);
  }
  const loaded = loadTypeFolders([EXAMPLES_DIR]);
  t.deepEqual(loaded.problems, []);
  t.deepEqual(
    loaded.types.map((type) => type.name),
    EXAMPLES,
  );
});

test("the schema refuses what the loader refuses: a misspelt key, a field of no kind, a bad name", (t) => {
  const validate = validator();
  const base = example("line-stats");
  const bad: [string, Record<string, unknown>][] = [
    ["a misspelt key", { ...base, timeout: 5 }],
    ["a field of no kind", { ...base, fields: [{ name: "x", kind: "date", label: "X" }] }],
    ["a name with capitals", { ...base, name: "LineStats" }],
    ["a unit of three words", { ...base, unit: ["a", "b", "c"] }],
    ["no command", { ...base, run: { command: [] } }],
  ];
  for (const [what, manifest] of bad) {
    t.false(validate(manifest), `the schema accepts ${what}`);
    t.not(manifestProblems(manifest).length, 0, `the loader accepts ${what}`);
  }
});

test("GET /schemas/job.json serves the schema as application/schema+json, cacheable, and 304 to its ETag", async (t) => {
  const app = new Koa();
  app.use(schemaRoutes().routes());
  const server = app.listen(0, "127.0.0.1");
  t.teardown(() => server.close());
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${MANIFEST_SCHEMA_PATH}`;
  const res = await fetch(url);
  t.is(res.status, 200);
  t.is(res.headers.get("content-type")?.split(";")[0], SCHEMA_MEDIA_TYPE);
  t.regex(res.headers.get("cache-control") ?? "", /^public, max-age=\d+$/);
  t.is(res.headers.get("access-control-allow-origin"), "*");
  t.deepEqual(await res.json(), readJson(SCHEMA_FILE));
  const etag = res.headers.get("etag");
  t.truthy(etag);
  const again = await fetch(url, { headers: { "If-None-Match": etag! } });
  t.is(again.status, 304);
  t.is(await again.text(), "");
});

// GET /api/openapi.json: made from the declarations that check requests and
// build answers; openapi-spec-validator accepts it; every operation and
// status it declares is reached (here, or by the test named in
// COVERED_ELSEWHERE), each answer checked against it by the contract check
// every test app carries (test/support/contract.ts); and a client generated
// from it, as generated, submits, polls, reads and cancels.
import { execFile } from "node:child_process";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import zlib from "node:zlib";
import test from "ava";
import openapiTS, { astToString } from "openapi-typescript";
import { jsonSchema } from "../../jobs/core/fields.ts";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import { formAction } from "../../server/urls.ts";
import { submitSchema } from "../../server/openapi.ts";
import { BUILD_DIR, ROOT } from "../../server/paths.ts";
import { useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { apiDocument } from "../support/contract.ts";
import { waitFor } from "../support/wait.ts";

const run = promisify(execFile);
const redis = useRedis(test);
const TOKEN = "openapi-test-metrics-token-0123456789";
const app = useApp(test, { redis, name: "openapi", env: { METRICS_TOKEN: TOKEN, SHOW_JOB_INTERNALS: "true" } });

/**
 * Documented answers this file does not give, and the test that does (or
 * why none can). The walk below fails on any other one not reached.
 */
const COVERED_ELSEWHERE: Record<string, string> = {
  "* 421": "answered before the app (http-server.ts): test/processes/host-boundary.test.ts",
  "* 500": "a bug's answer: errors.ts, test/flow/client-errors.test.ts",
  "* 503":
    "Redis down or full, the queue full, the server busy: test/topologies/redis-down.test.ts, redis-full.test.ts, test/flow/limits.test.ts",
  "GET /jobs/{id}/status 286": "htmx's polls are answered before Koa (listener.ts): test/flow/status-poll.test.ts",
  "POST /jobs/new/csv-check 408": "an upload that stalls: test/flow/slow-upload.test.ts",
  "POST /jobs/new/csv-check 413": "a file over JOB_UPLOAD_MAX_BYTES: test/flow/csv-upload.test.ts",
  "POST /jobs/new/csv-check 507": "FILE_STORE_DIR on a full disk: test/flow/file-store.test.ts",
  "GET /metrics 404": "metrics off without METRICS_TOKEN: test/flow/metrics.test.ts",
  "GET /healthz 503": "test/topologies/redis-down.test.ts, redis-full.test.ts",
  "GET /jobs/{id}/files/{name} 206": "a Range of an output file: test/flow/downloads.test.ts",
  "GET /jobs/{id}/files/{name} 416": "a Range past an output file's end: test/flow/downloads.test.ts",
  "GET /jobs/{id}/log 206": "a Range of the log: test/flow/downloads.test.ts",
  "GET /jobs/{id}/log 416": "a Range past the log's end: test/flow/downloads.test.ts",
  "POST * 429": "a submit past JOB_MAX_QUEUED_PER_SUBMITTER, for every type's form: test/flow/turns.test.ts",
  "GET /jobs/mine 200": "a signed-in person's jobs: test/flow/people.test.ts",
  "GET /jobs/mine 401": "not signed in: test/flow/people.test.ts",
  "GET /jobs/mine 400": "a filter it does not know: test/flow/people.test.ts",
  "GET /jobs/mine 404": "sign-in off: test/flow/people.test.ts",
  "GET /jobs/{id}/result.json 206": "a Range of the results: test/flow/downloads.test.ts",
  "GET /jobs/{id}/result.json 416": "a Range past the results' end: test/flow/downloads.test.ts",
  "GET /jobs/{id}/result.csv 206": "a Range of the results: test/flow/downloads.test.ts",
  "GET /jobs/{id}/result.csv 416": "a Range past the results' end: test/flow/downloads.test.ts",
};

const json = { "Content-Type": "application/json", Accept: "application/json" };
const served = async () => (await (await app.get("/api/openapi.json")).json()) as ReturnType<typeof apiDocument>;

test.serial("the document is OpenAPI 3.1 with a submit operation per job type, its JSON schema the type's fields", async (t) => {
  const d = await served();
  t.is(d.openapi, "3.1.0");
  t.deepEqual(d, apiDocument(), "served as the contract check reads it");
  for (const type of JOB_TYPES) {
    const op = d.paths[formAction(type)]!.post as unknown as { requestBody: { content: Record<string, { schema: unknown }> } };
    const content = op.requestBody.content;
    if (type.fields.some((f) => f.kind === "file")) t.like(content["multipart/form-data"]!.schema, { additionalProperties: true });
    else t.deepEqual(content["application/json"]!.schema, submitSchema(type), type.name);
    t.like(
      submitSchema(type),
      { properties: jsonSchema(type.fields).properties as object },
      "the type's fields, and the notify ones beside them",
    );
  }
});

test.serial("openapi-spec-validator accepts the served document", async (t) => {
  const dir = fs.mkdtempSync(path.join(BUILD_DIR, "openapi-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "openapi.json");
  fs.writeFileSync(file, await (await app.get("/api/openapi.json")).text());
  const { stdout } = await run("openapi-spec-validator", [file]).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`openapi-spec-validator: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  });
  t.regex(stdout, /OK/);
});

test.serial(
  "a JSON body is answered in JSON without Accept; unknown fields are refused in JSON and ignored in a form; a boolean left out is false",
  async (t) => {
    const res = await fetch(`${app.url}/count`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ start: 1, end: 2, increment: 1 }),
    });
    t.is(res.status, 202);
    t.regex(res.headers.get("content-type") ?? "", /json/);
    const page = await fetch(`${app.url}/count`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/json", Accept: "text/html,*/*;q=0.8" },
      body: JSON.stringify({ start: 1, end: 2, increment: 1 }),
    });
    t.is(page.status, 303, "an Accept that names HTML gets the page");
    const unknown = await fetch(`${app.url}/count`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ start: 1, end: 2, increment: 1, stpe: 1 }),
    });
    t.is(unknown.status, 422);
    t.like(await unknown.json(), { error: "invalid-input", status: 422, fields: { stpe: 'There is no field "stpe" in this form' } });
    const form = await app.post("/count", { start: "1", end: "2", increment: "1", submission: "a-form-token-0123456789", go: "" });
    t.is(form.status, 303, "a form's extra fields (its token, a button) are ignored");
    const doc = apiDocument();
    const csv = doc.paths["/jobs/new/csv-check"]!.post as unknown as {
      requestBody: { content: Record<string, { schema: { properties: Record<string, { default?: unknown }> } }> };
    };
    t.is(csv.requestBody.content["multipart/form-data"]!.schema.properties.header!.default, false, "what an absent box is");
  },
);

/**
 * A program that uses the generated types with openapi-fetch as its README
 * shows: the calls and what it reads of the answers are checked by tsc
 * against the generated types; Accept is the header parameter the document
 * declares, passed where the types ask for it.
 */
const CLIENT = `
import createClient from "openapi-fetch";
import type { paths } from "./api.d.ts";

// The answers this program reads: the JSON ones (openapi-fetch's second type parameter).
const client = createClient<paths, "application/json">({ baseUrl: process.argv[2] });
const submit = await client.POST("/count", { body: { start: 1, end: 1000, increment: 1 } });
if (!submit.data) throw new Error("submit: " + submit.response.status + " " + JSON.stringify(submit.error));
const id: string = submit.data.id;
const accept = { Accept: "application/json" };
const poll = await client.GET("/jobs/{id}/status", { params: { path: { id }, header: accept } });
const read = await client.GET("/jobs/{id}", { params: { path: { id }, header: accept } });
if (!read.data) throw new Error("read: " + read.response.status);
const state: "queued" | "running" | "succeeded" | "failed" | "cancelled" = read.data.state;
const cancel = await client.POST("/jobs/{id}/cancel", { params: { path: { id }, header: accept } });
const invalid = await client.POST("/count", { body: { start: 1, end: 2, increment: 1, stpe: 1 } as never });
const error = invalid.error as { fields?: Record<string, string> } | undefined;
console.log(JSON.stringify({
  submitted: submit.response.status,
  polled: poll.response.status,
  read: read.response.status,
  state,
  cancelled: cancel.response.status,
  outcome: cancel.data?.outcome,
  invalid: invalid.response.status,
  invalidField: error?.fields?.stpe,
}));
`;

/** Every documented (operation, status), as the contract check names them: "GET /jobs/{id} 200". */
function documented(): string[] {
  const d = apiDocument();
  return Object.entries(d.paths).flatMap(([p, item]) =>
    Object.entries(item).flatMap(([method, op]) => Object.keys(op.responses).map((status) => `${method.toUpperCase()} ${p} ${status}`)),
  );
}

async function csvJob(accept: string): Promise<Response> {
  const form = new FormData();
  form.set("file", new Blob(["a,b\n1,2\n3,x\n"], { type: "text/csv" }), "data.csv");
  form.set("delimiter", "comma");
  return fetch(`${app.url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual", headers: { Accept: accept } });
}

test.serial("an ended job's JSON and downloads carry an ETag and answer If-None-Match with 304; a running job's carry none", async (t) => {
  const submitted = async (body: string, headers: Record<string, string>, p = "/count") =>
    ((await (await fetch(app.url + p, { method: "POST", body, headers })).json()) as { id: string }).id;
  const running = await submitted(JSON.stringify({ start: 1, end: 1000, increment: 1 }), json);
  const live = await app.get(`/jobs/${running}`, { Accept: "application/json" });
  await live.arrayBuffer();
  t.is(live.headers.get("etag"), null, "a running job's answer changes: no ETag");
  t.is(live.headers.get("cache-control"), "no-store");
  t.is((await fetch(`${app.url}/jobs/${running}/cancel`, { method: "POST", headers: { Accept: "application/json" } })).status, 202);
  await app.waitForState(running, "cancelled");
  const created = await csvJob("application/json");
  const csvId = ((await created.json()) as { id: string }).id;
  const get = (p: string, headers: Record<string, string> = {}) => app.get(p, headers);
  await app.waitForState(csvId, ["succeeded", "failed"]);
  const files = ((await (await get(`/jobs/${csvId}`, { Accept: "application/json" })).json()) as { files: { url: string }[] }).files;
  t.true(files.length > 0, "the check wrote files");
  for (const id of [running, csvId]) {
    for (const p of [
      `/jobs/${id}`,
      `/jobs/${id}/status`,
      `/jobs/${id}/result.json`,
      `/jobs/${id}/result.csv`,
      `/jobs/${id}/log`,
      ...(id === csvId ? files.map((f) => f.url) : []),
    ]) {
      // A cancelled job's process may still write its exit (code, signal) just after the state: its answer
      // then changes once, with its ETag; from then on the same ETag is answered 304.
      let etag: string | null = null;
      await waitFor(
        async () => {
          const res = await get(p, { Accept: "application/json", ...(etag ? { "If-None-Match": etag } : {}) });
          await res.arrayBuffer();
          if (res.status === 304) return true;
          t.is(res.status, 200, p);
          etag = res.headers.get("etag");
          t.truthy(etag, `${p}: an ended job's answer has an ETag`);
          return null;
        },
        { message: `${p} answered 304 to its ETag` },
      );
    }
  }
});

test.serial("every operation and status the document declares is answered, each answer as documented", async (t) => {
  const get = (p: string, headers: Record<string, string> = {}) => app.get(p, headers);
  const post = (p: string, body: string, headers: Record<string, string>) =>
    fetch(app.url + p, { method: "POST", body, headers, redirect: "manual" });
  const expect = async (res: Promise<Response>, status: number, what: string) => {
    const r = await res;
    await r.arrayBuffer();
    t.is(r.status, status, what);
    return r;
  };
  // A body refused before it is read (413): on a connection of its own, which the server then closes
  // (fetch would put it back in its pool and a later request could meet the reset).
  const postAlone = (p: string, body: string, headers: Record<string, string>) =>
    new Promise<Response>((resolve, reject) => {
      const req = http.request(app.url + p, { method: "POST", headers, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(new Response(null, { status: res.statusCode! })));
      });
      req.on("error", reject);
      req.end(body);
    });
  const crossSite = { ...json, "Sec-Fetch-Site": "cross-site" };
  const gzip = { ...json, "Content-Encoding": "gzip" };
  const huge = JSON.stringify({ start: 1, end: 2, increment: 1, x: "y".repeat(64 * 1024) });

  // Pages.
  await expect(get("/"), 200, "start page");
  for (const type of JOB_TYPES) await expect(get(`/jobs/new/${type.name}`), 200, `${type.name} form`);
  await expect(get("/jobs/new/primes?n=abc"), 400, "a bad value in the address");
  await expect(get("/jobs/new/count?start=x"), 400, "a bad start in the query");
  await expect(get("/jobs/new/csv-check?delimiter=pipe"), 400, "a delimiter there is not");
  await expect(get("/count/1/5"), 200, "the count's fill address");
  await expect(get("/count/x/5"), 400, "a bad fill address");

  // Submits, each type.
  for (const p of ["/count", "/jobs/new/primes"]) {
    const body = p === "/count" ? { start: 1, end: 3, increment: 1 } : { n: 100 };
    await expect(post(p, JSON.stringify(body), json), 202, `${p} JSON`);
    await expect(
      post(p, new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString(), {
        "Content-Type": "application/x-www-form-urlencoded",
      }),
      303,
      `${p} form`,
    );
    await expect(post(p, "{", json), 400, `${p} broken JSON`);
    await expect(postAlone(p, huge, json), 413, `${p} too large`);
    await expect(post(p, "x", { ...json, "Content-Type": "text/plain" }), 415, `${p} text`);
    await expect(post(p, JSON.stringify({ no_such_field: 1 }), json), 422, `${p} unknown field`);
    await expect(post(p, JSON.stringify(body), crossSite), 403, `${p} cross-site`);
  }
  await expect(csvJob("application/json"), 202, "csv-check multipart JSON");
  await expect(csvJob("text/html"), 303, "csv-check form");
  await expect(post("/jobs/new/csv-check", "--x\r\n", { "Content-Type": "multipart/form-data; boundary=x" }), 400, "csv-check unreadable");
  await expect(post("/jobs/new/csv-check", "{}", json), 415, "csv-check JSON");
  const noFile = new FormData();
  noFile.set("delimiter", "comma");
  await expect(
    fetch(`${app.url}/jobs/new/csv-check`, { method: "POST", body: noFile, headers: { Accept: "application/json" } }),
    422,
    "no file",
  );
  await expect(
    fetch(`${app.url}/jobs/new/csv-check`, { method: "POST", body: noFile, headers: { "Sec-Fetch-Site": "cross-site" } }),
    403,
    "csv cross-site",
  );

  // A job's answers, while it runs and once it has ended.
  const missing = "/jobs/0123456789abcdef0123456789abcdef";
  const running = ((await (await post("/count", JSON.stringify({ start: 1, end: 1000, increment: 1 }), json)).json()) as { id: string }).id;
  await expect(get(`/jobs/${running}/result.json`, json), 409, "results before the end");
  await expect(get(`/jobs/${running}/result.csv`), 409, "CSV before the end");
  await expect(
    post(`/jobs/${running}/cancel`, "", { Accept: "application/json", ...{ "Sec-Fetch-Site": "cross-site" } }),
    403,
    "cancel cross-site",
  );
  await expect(post(`/jobs/${running}/cancel`, zlib.gzipSync("{}").toString("latin1"), gzip), 415, "cancel compressed");
  await expect(post(`/jobs/${running}/cancel`, "", { Accept: "application/json" }), 202, "cancel");
  const other = ((await (await post("/count", JSON.stringify({ start: 1, end: 1000, increment: 1 }), json)).json()) as { id: string }).id;
  await expect(post(`/jobs/${other}/cancel`, "", { "Content-Type": "application/x-www-form-urlencoded" }), 303, "cancel form");
  await app.waitForState(running, "cancelled");
  await expect(post(`/jobs/${running}/cancel`, "", { Accept: "application/json" }), 409, "cancel an ended job");
  await expect(post(`${missing}/cancel`, "", { Accept: "application/json" }), 404, "cancel no job");
  for (const p of [
    missing,
    `${missing}/status`,
    `${missing}/result.json`,
    `${missing}/result.csv`,
    `${missing}/log`,
    `${missing}/files/x.csv`,
  ])
    await expect(get(p, { Accept: "application/json" }), 404, p);

  // Recent jobs, health, metrics, the document.
  await expect(get("/recent", { Accept: "application/json" }), 200, "recent");
  await expect(get("/recent", { Accept: "text/html" }), 303, "recent, a browser");
  await expect(post("/recent/remove", JSON.stringify({ id: running }), json), 200, "remove");
  await expect(post("/recent/remove", `id=${running}`, { "Content-Type": "application/x-www-form-urlencoded" }), 303, "remove, a form");
  await expect(post("/recent/remove", "{}", json), 400, "remove what?");
  await expect(postAlone("/recent/remove", JSON.stringify({ id: "x".repeat(2000) }), json), 413, "remove, too large");
  await expect(post("/recent/remove", zlib.gzipSync("{}").toString("latin1"), gzip), 415, "remove, compressed");
  await expect(post("/recent/remove", "{}", crossSite), 403, "remove cross-site");
  const form = { "Content-Type": "application/x-www-form-urlencoded" };
  await expect(get("/settings/time-zone?back=%2F"), 200, "the time zone page");
  await expect(post("/settings/time-zone", "zone=Europe%2FParis&back=%2F", form), 303, "a zone chosen");
  await expect(post("/settings/time-zone", "zone=Mars%2FOlympus", form), 400, "a zone that is none");
  await expect(post("/settings/time-zone", "zone=Mars%2FOlympus", { ...form, Accept: "application/json" }), 400, "the same, for JSON");
  await expect(postAlone("/settings/time-zone", `zone=${"x".repeat(8000)}`, form), 413, "a zone too large");
  await expect(
    post("/settings/time-zone", zlib.gzipSync("zone=UTC").toString("latin1"), { ...form, "Content-Encoding": "gzip" }),
    415,
    "compressed",
  );
  await expect(post("/settings/time-zone", "zone=UTC", { ...form, "Sec-Fetch-Site": "cross-site" }), 403, "a zone from another site");
  await expect(get("/healthz"), 200, "health");
  await expect(get("/metrics", { Authorization: `Bearer ${TOKEN}` }), 200, "metrics");
  await expect(get("/metrics"), 401, "metrics without the token");
  await expect(get("/api/openapi.json"), 200, "the document");

  // Every declared answer was given here (and checked) or is covered elsewhere.
  t.deepEqual(app.contract.violations, [], "every answer as documented");
  const elsewhere = (name: string) => {
    const [method, , status] = name.split(" ");
    return COVERED_ELSEWHERE[name] ?? COVERED_ELSEWHERE[`* ${status}`] ?? COVERED_ELSEWHERE[`${method} * ${status}`];
  };
  const missed = documented().filter((name) => !app.contract.reached.has(name) && !elsewhere(name));
  t.deepEqual(missed, [], "documented answers no test gives");
});

test.serial(
  "a client generated from the document (openapi-typescript, openapi-fetch) submits, polls, reads and cancels, as generated",
  async (t) => {
    // tsc and a process of its own: generous on a busy machine.
    t.timeout(180_000);
    const dir = fs.mkdtempSync(path.join(BUILD_DIR, "openapi-client-"));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const document = (await (
      await app.get("/api/openapi.json").catch((err: Error) => {
        throw new Error(`GET /api/openapi.json: ${String(err.cause)}`);
      })
    ).json()) as object;
    fs.writeFileSync(path.join(dir, "api.d.ts"), astToString(await openapiTS(document as Parameters<typeof openapiTS>[0])));
    fs.writeFileSync(path.join(dir, "client.ts"), CLIENT);
    // The client compiles against the generated types (a wrong call or answer type fails here)...
    await run(
      path.join(ROOT, "node_modules/.bin/tsc"),
      [
        "--noEmit",
        "--strict",
        "--skipLibCheck",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--allowImportingTsExtensions",
        path.join(dir, "client.ts"),
      ],
      { cwd: ROOT },
    ).catch((err: Error & { stdout?: string }) => {
      throw new Error(`the generated client does not compile: ${err.stdout ?? err.message}`);
    });
    // ...and runs against the app.
    const { stdout } = await run(process.execPath, ["--import=tsx", path.join(dir, "client.ts"), app.url], { cwd: ROOT, timeout: 60_000 });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    t.like(out, {
      submitted: 202,
      polled: 200,
      read: 200,
      cancelled: 202,
      invalid: 422,
      invalidField: 'There is no field "stpe" in this form',
    });
    t.true(["cancelled", "requested"].includes(out.outcome as string));
    t.true(["running", "queued"].includes(out.state as string));
  },
);

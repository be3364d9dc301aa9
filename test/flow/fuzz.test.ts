// Property-based HTTP fuzz: any request a client can send (every route, odd
// ids, methods, headers, encodings and bodies) gets an answer that is not a
// server error, shows no internals, echoes nothing unescaped, and starts a
// job exactly when it says it did. FUZZ_RUNS=20000 npx ava test/fuzz.test.ts
// for a longer run; a failure prints the seed and the smallest request that fails.
import fs from "node:fs";
import http from "node:http";
import zlib from "node:zlib";
import test from "ava";
import fc from "fast-check";
import { ROOT } from "../../server/paths.ts";
import { useApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";
import { submit } from "../support/http.ts";
import { waitFor } from "../support/wait.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

const redis = useRedis(test);
const app = useApp(test, { redis, name: "fuzz", env: { COUNT_STEP_DELAY_MS: "0", JOB_QUEUE_MAX: "100000" } });

/** What an input carries so that an unescaped echo of it is seen in the answer. */
const MARKS = ["<script data-fuzz>alert(1)</script>", '"><img data-fuzz src=x>', "'><svg data-fuzz onload=1>"];
const UNESCAPED = /<script data-fuzz|<img data-fuzz|<svg data-fuzz/;

const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(...MARKS, "1", "-5", "1e2", "1.0", "0x10", " 7 ", "9007199254740993", "", "%", "%zz", "\u0000", "é", "☃"),
  fc.integer({ min: -20, max: 20 }).map(String),
);

interface Fuzzed {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

const ID = "0123456789abcdef0123456789abcdef";

function arbitraryRequest(finished: string, port: number): fc.Arbitrary<Fuzzed> {
  const id = fc.oneof(
    fc.constant(finished),
    fc.constant(ID),
    fc.stringMatching(/^[0-9a-f]{32}$/),
    text.map(encodeURIComponent),
    fc.constantFrom("%zz", "..", "%2e%2e", "x".repeat(300)),
  );
  const query = fc.oneof(
    fc.constant(""),
    text.map((v) => `?shown=${encodeURIComponent(v)}`),
    text.map((v) => `?increment=${encodeURIComponent(v)}`),
    fc.constantFrom("?shown=running&shown=queued", "?%zz", "?shown=%zz"),
  );
  const path = fc.oneof(
    { arbitrary: fc.constant("/count"), weight: 4 },
    fc.constantFrom(
      "/",
      "/count",
      "/healthz",
      "/static/style.css",
      "/static/htmx.min.js",
      "/static/",
      "/static",
      "/static/../package.json",
      "/static/%2e%2e/package.json",
      "//evil.example/x",
      "/nothing",
      "/jobs",
      "/jobs/",
      "/jobs/new/count",
      "/jobs/new/primes",
      "/jobs/new/%zz",
    ),
    fc.tuple(text, text).map(([a, b]) => `/count/${encodeURIComponent(a)}/${encodeURIComponent(b)}`),
    fc
      .tuple(id, fc.constantFrom("", "/status", "/cancel", "/result.json", "/result.csv", "/log", "/files/x.txt", "/nothing"))
      .map(([i, rest]) => `/jobs/${i}${rest}`),
    text.map((v) => `/${encodeURIComponent(v)}`),
    fc.constantFrom("/%E0%A4%A", "/%", "/jobs/%zz/status"),
  );
  const form = fc.record({ start: text, end: text, increment: text }, { requiredKeys: [] });
  const valid = fc
    .record({ start: fc.integer({ min: 1, max: 3 }), end: fc.integer({ min: 3, max: 5 }) })
    .map(({ start, end }) => ({ start: String(start), end: String(end), increment: "1" }));
  const jsonValue = fc.oneof(
    text,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(
      { toString: 1 },
      { valueOf: 1 },
      { toString: "x", valueOf: "y" },
      [1, 2],
      { __proto__: { a: 1 } },
      1e2,
      1.0,
      1.5,
      2 ** 60,
    ),
  );
  const body = fc.oneof(
    form.map((f) => ({ type: "application/x-www-form-urlencoded", raw: new URLSearchParams(f).toString() })),
    valid.map((f) => ({ type: "application/x-www-form-urlencoded", raw: new URLSearchParams(f).toString() })),
    valid.map((f) => ({ type: "application/json", raw: JSON.stringify(f) })),
    fc
      .dictionary(fc.constantFrom("start", "end", "increment", "__proto__", "constructor", "x"), jsonValue)
      .map((o) => ({ type: "application/json", raw: JSON.stringify(o) })),
    fc.string({ maxLength: 60 }).map((raw) => ({ type: "application/json", raw })),
    fc
      .tuple(
        fc.constantFrom(
          "text/plain",
          "multipart/form-data; boundary=x",
          "application/x-www-form-urlencoded; charset=latin1",
          "application/json; charset=utf-16",
          "",
          "garbage/;;",
        ),
        fc.string({ maxLength: 60 }),
      )
      .map(([type, raw]) => ({ type, raw })),
    fc.constant({ type: "application/x-www-form-urlencoded", raw: "start=1&start=2&end=3&increment=1" }),
    fc.constant({ type: "application/x-www-form-urlencoded", raw: "a".repeat(5000) }),
  );
  const encoding = fc.constantFrom(null, null, null, "identity", "gzip", "deflate", "br", "compress", "gzip, br", "garbage");
  const encodeRight = fc.boolean();
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
  const headers = fc.record({
    host: fc.oneof(
      { arbitrary: fc.constantFrom(`127.0.0.1:${port}`, `localhost:${port}`), weight: 9 },
      { arbitrary: fc.constantFrom("evil.example", `evil.example:${port}`, "", "127.0.0.1", "[::1]:1"), weight: 1 },
    ),
    origin: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 4 },
      {
        arbitrary: fc.constantFrom(`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, "https://evil.example", "null", "garbage"),
        weight: 1,
      },
    ),
    "sec-fetch-site": fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 4 },
      { arbitrary: fc.constantFrom("same-origin", "none", "cross-site", "same-site", "garbage"), weight: 1 },
    ),
    accept: maybe(fc.constantFrom("application/json", "text/html", "*/*", "text/html;q=0.1, application/json", "garbage/;;", "")),
    "hx-request": maybe(fc.constantFrom("true", "false")),
  });
  const method = fc.oneof(
    { arbitrary: fc.constantFrom("GET", "POST"), weight: 8 },
    { arbitrary: fc.constantFrom("HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"), weight: 2 },
  );
  return fc.record({ method, path, query, headers, body, encoding, encodeRight }).map((r) => {
    const h: Record<string, string> = {};
    for (const [name, value] of Object.entries(r.headers)) if (value !== undefined) h[name] = value;
    let body: Buffer | undefined;
    if (r.method === "POST" || r.method === "PUT" || r.method === "PATCH") {
      body = Buffer.from(r.body.raw);
      if (r.body.type) h["content-type"] = r.body.type;
      if (r.encoding) {
        h["content-encoding"] = r.encoding;
        if (r.encodeRight && r.encoding === "gzip") body = zlib.gzipSync(body);
        if (r.encodeRight && r.encoding === "deflate") body = zlib.deflateSync(body);
        if (r.encodeRight && r.encoding === "br") body = zlib.brotliCompressSync(body);
      }
    }
    return { method: r.method, path: r.path + r.query, headers: h, body };
  });
}

function send(agent: http.Agent, port: number, r: Fuzzed): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        agent,
        method: r.method,
        path: r.path,
        headers: { ...r.headers, ...(r.body ? { "content-length": String(r.body.length) } : {}) },
        setHost: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            body: Buffer.concat(chunks).toString("utf8"),
            type: String(res.headers["content-type"] ?? ""),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(r.body);
  });
}

const INTERNALS = [
  /\n\s+at [\w.<>]+ \(/,
  /node_modules/,
  new RegExp(ROOT.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
  /\/tmp\//,
  /(Type|Reference|Syntax)Error:/,
];

test("no request a client can send gets a server error, internals, an unescaped echo, or a job it was not told about", async (t) => {
  t.timeout(10 * 60_000);
  const finished = await submit(app.url, { start: "1", end: "3", increment: "1" });
  await app.waitForState(finished, "succeeded");
  const port = Number(new URL(app.url).port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  let accepted = 0;
  let requests = 0;
  const statuses = new Map<number, number>();

  await fc.assert(
    fc.asyncProperty(arbitraryRequest(finished, port), async (r) => {
      requests++;
      const res = await send(agent, port, r);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const where = `${r.method} ${r.path} ${JSON.stringify(r.headers)} ${r.body?.toString("latin1").slice(0, 200) ?? ""} -> ${res.status}: ${res.body.slice(0, 300)}`;
      if (res.status >= 500) throw new Error(`server error: ${where}`);
      for (const pattern of INTERNALS) if (pattern.test(res.body)) throw new Error(`internals (${pattern}) in: ${where}`);
      if (UNESCAPED.test(res.body)) throw new Error(`an input echoed unescaped: ${where}`);
      if (r.method === "POST" && (res.status === 303 || res.status === 202) && !r.path.includes("/cancel")) accepted++;
    }),
    { numRuns: RUNS },
  );

  // Every job a client was told about exists and ran, and no other.
  await waitFor(async () => (await app.store.queueLength()) === 0 && (await app.store.leasedIds()).length === 0, {
    timeout: 30_000,
    message: "every job to have run",
  });
  await app.supervisor.idle();
  const jobs = (await keysUnder(redis.client, app.prefix)).filter((k) => /:job:[0-9a-f]{32}$/.test(k)).map((k) => k.slice(-32));
  const started = fs
    .readdirSync(app.logDir)
    .filter((f) => f.endsWith(".log"))
    .map((f) => f.slice(0, 32));
  t.log(
    `${requests} requests; ${accepted} jobs accepted; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`,
  );
  t.is(jobs.length, accepted + 1, "jobs created = answers that said one was");
  t.deepEqual(started.sort(), jobs.sort(), "a process started for every job created, and for no other");
});

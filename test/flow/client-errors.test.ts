// Whatever a client sends gets a 4xx with a plain message, never a 500:
// bodies in an encoding they are not in (or any encoding), JSON fields that
// are objects with their own toString or valueOf, addresses that do not decode.
import zlib from "node:zlib";
import test from "ava";
import { useApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const app = useApp(test, { redis, name: "client-errors", takesJobs: false });

const FORM = "application/x-www-form-urlencoded";
const form = "start=1&end=2&increment=1";

interface Case {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const answers = test.macro({
  async exec(t, request: Case, status: number) {
    const before = (await keysUnder(redis.client, app.prefix)).length;
    const res = await fetch(app.url + request.path, {
      method: request.method ?? "GET",
      headers: request.headers,
      body: request.body as BodyInit | undefined,
      redirect: "manual",
    });
    const text = await res.text();
    t.is(res.status, status, text);
    t.notRegex(text, /\n\s+at |node_modules|(Type|Reference|Syntax|Range|URI)Error/, "no internals");
    t.is((await keysUnder(redis.client, app.prefix)).length, before, "nothing was written");
  },
  title: (what = "", _request: Case, status: number) => `${what} answers ${status} and changes nothing`,
});

test(
  "a form sent with Content-Encoding: gzip that is not gzip",
  answers,
  { method: "POST", path: "/count", headers: { "Content-Type": FORM, "Content-Encoding": "gzip" }, body: form },
  415,
);
test(
  "a form sent with Content-Encoding: deflate that is not deflate",
  answers,
  { method: "POST", path: "/count", headers: { "Content-Type": FORM, "Content-Encoding": "deflate" }, body: form },
  415,
);
test(
  "a form sent with Content-Encoding: br that is not br",
  answers,
  { method: "POST", path: "/count", headers: { "Content-Type": FORM, "Content-Encoding": "br" }, body: form },
  415,
);
test(
  "a form that really is gzip",
  answers,
  {
    method: "POST",
    path: "/count",
    headers: { "Content-Type": FORM, "Content-Encoding": "gzip" },
    body: new Uint8Array(zlib.gzipSync(form)),
  },
  415,
);
test(
  "a large brotli body",
  answers,
  {
    method: "POST",
    path: "/count",
    headers: { "Content-Type": FORM, "Content-Encoding": "br" },
    body: new Uint8Array(zlib.brotliCompressSync("a".repeat(100_000))),
  },
  415,
);
test(
  "a form with an unknown Content-Encoding",
  answers,
  { method: "POST", path: "/count", headers: { "Content-Type": FORM, "Content-Encoding": "compress" }, body: form },
  415,
);
test(
  "a JSON field that is an object with a toString key",
  answers,
  {
    method: "POST",
    path: "/count",
    headers: { "Content-Type": "application/json" },
    body: '{"start":{"toString":1},"end":2,"increment":1}',
  },
  422,
);
test(
  "a JSON field that is an object with a valueOf key",
  answers,
  {
    method: "POST",
    path: "/count",
    headers: { "Content-Type": "application/json" },
    body: '{"start":1,"end":{"valueOf":2},"increment":1}',
  },
  422,
);
test(
  "a JSON client sending an object with a toString key",
  answers,
  {
    method: "POST",
    path: "/count",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: '{"start":{"toString":"x"},"end":2,"increment":1}',
  },
  422,
);
test("GET /static/", answers, { path: "/static/" }, 404);
test("HEAD /static/", answers, { method: "HEAD", path: "/static/" }, 404);
test("GET of a count address with a broken %-escape", answers, { path: "/count/%zz/2" }, 400);

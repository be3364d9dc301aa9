// Host and origin: a request is answered only under the names the server is
// reached by (ALLOWED_HOSTS, by default its loopback names and port), which
// stops DNS rebinding; a state change is accepted only from this very origin
// (scheme, host and port).
import http from "node:http";
import test, { type ExecutionContext } from "ava";
import { ConfigError, loadConfig } from "../../server/config.ts";
import { hostChecker } from "../../server/hosts.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const FORM = "start=1&end=2&increment=1";

/** A request with any Host header (fetch cannot set one). */
function send(
  app: TestApp,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  const { port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const h =
      body === undefined
        ? headers
        : { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": String(Buffer.byteLength(body)), ...headers };
    const req = http.request({ host: "127.0.0.1", port, method, path, headers: h, setHost: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const hostOf = (app: TestApp) => new URL(app.url).host;

const misdirected = test.macro({
  async exec(t: ExecutionContext, method: string, path: (id: string) => string, host: (port: string) => string) {
    const app = await startApp(t, { redis, name: "rebind" });
    const id = await app.submit({ start: "1", end: "2", increment: "1" });
    await app.waitForState(id, "succeeded");
    // Its end reported (the key of ends waiting for their report is gone with it): the count holds still.
    await app.supervisor.idle();
    const keys = (await keysUnder(redis.client, app.prefix)).length;
    const res = await send(app, method, path(id), { Host: host(new URL(app.url).port) }, method === "POST" ? FORM : undefined);
    t.is(res.status, 421);
    t.regex(res.text, /does not answer for that host name/);
    t.is((await keysUnder(redis.client, app.prefix)).length, keys, "nothing was written");
    t.is(app.server.stats.hostRefused, 1);
  },
  title: (what = "") => `${what} is refused with 421 (DNS rebinding)`,
});

test(
  "GET / with Host: evil.example",
  misdirected,
  "GET",
  () => "/",
  () => "evil.example",
);
test(
  "GET of a job page with Host: evil.example and the server's port",
  misdirected,
  "GET",
  (id) => `/jobs/${id}`,
  (port) => `evil.example:${port}`,
);
test(
  "a status poll (the request listener's fast path) with Host: evil.example",
  misdirected,
  "GET",
  (id) => `/jobs/${id}/status`,
  () => "evil.example",
);
test(
  "POST /count with Host: evil.example",
  misdirected,
  "POST",
  () => "/count",
  () => "evil.example",
);
test(
  "POST of a cancel with Host: evil.example",
  misdirected,
  "POST",
  (id) => `/jobs/${id}/cancel`,
  () => "evil.example",
);
test(
  "GET / with the loopback name on another port",
  misdirected,
  "GET",
  () => "/",
  () => "localhost:1",
);
test(
  "GET / without a Host header",
  misdirected,
  "GET",
  () => "/",
  () => "",
);

const served = test.macro({
  async exec(t: ExecutionContext, host: (port: string) => string) {
    const app = await startApp(t, { redis, name: "hosts" });
    const res = await send(app, "POST", "/count", { Host: host(new URL(app.url).port) }, FORM);
    t.is(res.status, 303);
  },
  title: (what = "") => `a POST with ${what} is served by default`,
});

test("Host: 127.0.0.1 and the port", served, (port) => `127.0.0.1:${port}`);
test("Host: localhost and the port", served, (port) => `localhost:${port}`);
test("Host: [::1] and the port", served, (port) => `[::1]:${port}`);
test("Host: LOCALHOST in capitals", served, (port) => `LOCALHOST:${port}`);

test("ALLOWED_HOSTS names the hosts answered, and * answers any", async (t) => {
  const app = await startApp(t, { redis, name: "allowed", env: { ALLOWED_HOSTS: "jobs.example.com, 10.0.0.5:8080" } });
  t.is((await send(app, "GET", "/", { Host: "jobs.example.com" })).status, 200);
  t.is((await send(app, "GET", "/", { Host: "jobs.example.com:443" })).status, 200, "a name without a port matches any port");
  t.is((await send(app, "GET", "/", { Host: "10.0.0.5:8080" })).status, 200);
  t.is((await send(app, "GET", "/", { Host: "10.0.0.5:9090" })).status, 421);
  t.is((await send(app, "GET", "/", { Host: hostOf(app) })).status, 421, "the loopback default is replaced");
  const any = await startApp(t, { redis, name: "any", env: { ALLOWED_HOSTS: "*" } });
  t.is((await send(any, "GET", "/", { Host: "evil.example" })).status, 200);
});

test("hostChecker matches names case-insensitively and treats a Host without a port as port 80", (t) => {
  const allowed = hostChecker(["example.com:80", "[::1]:3000"], () => 3000);
  t.true(allowed("EXAMPLE.com"));
  t.true(allowed("example.com:80"));
  t.false(allowed("example.com:8080"));
  t.true(allowed("[::1]:3000"));
  t.false(allowed("[::1]"));
  t.false(allowed("example.com:x"));
  t.false(allowed(undefined));
});

const badConfig = test.macro({
  exec(t, env: Record<string, string>, message: RegExp) {
    const err = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.regex(err.message, message);
  },
  title: (what = "") => `the server refuses to start with ${what}`,
});

test("HOST=0.0.0.0 and no ALLOWED_HOSTS", badConfig, { HOST: "0.0.0.0" }, /ALLOWED_HOSTS: required when HOST=0\.0\.0\.0/);
test("an ALLOWED_HOSTS entry with a path", badConfig, { ALLOWED_HOSTS: "example.com/x" }, /ALLOWED_HOSTS=/);
test("an ALLOWED_HOSTS entry with a scheme", badConfig, { ALLOWED_HOSTS: "http://example.com" }, /ALLOWED_HOSTS=/);
test("an empty ALLOWED_HOSTS list", badConfig, { ALLOWED_HOSTS: " , " }, /ALLOWED_HOSTS=/);

test("HOST=0.0.0.0 starts with ALLOWED_HOSTS set", (t) => {
  t.deepEqual(loadConfig({ HOST: "0.0.0.0", ALLOWED_HOSTS: "Jobs.Example.com,10.0.0.5:3000" }).allowedHosts, [
    "jobs.example.com",
    "10.0.0.5:3000",
  ]);
});

const crossOrigin = test.macro({
  async exec(t: ExecutionContext, origin: (self: string) => string) {
    const app = await startApp(t, { redis, name: "origin" });
    const res = await send(app, "POST", "/count", { Host: hostOf(app), Origin: origin(hostOf(app)) }, FORM);
    t.is(res.status, 403);
    t.deepEqual(await keysUnder(redis.client, app.prefix), []);
  },
  title: (what = "") => `a POST with Origin ${what} is refused with 403`,
});

test("https:// of this very host and port", crossOrigin, (self) => `https://${self}`);
test("of this host on another port", crossOrigin, (self) => `http://${self.split(":")[0]}:1`);
test("with a path after the host", crossOrigin, (self) => `http://${self}/x`);

test("a POST with the Origin http:// of this host and port is accepted", async (t) => {
  const app = await startApp(t, { redis, name: "origin-ok" });
  t.is((await send(app, "POST", "/count", { Host: hostOf(app), Origin: `http://${hostOf(app)}` }, FORM)).status, 303);
});

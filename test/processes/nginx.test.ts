// sidejob behind nginx as shipped (deploy/nginx.conf), over TLS, driven as a
// browser drives it: a private redis-server, the real server, a self-signed
// certificate for jobs.test and nginx as its own master in a temporary
// folder. The copy of deploy/nginx.conf changes only the upstream's address,
// the listen ports (on loopback), the certificate's paths and server_name.
// Every request goes to nginx's TLS port, with the headers a browser sends
// (Host, Origin, Sec-Fetch-*), through one keep-alive connection as a page's
// polls would.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import test from "ava";
import { ROOT } from "../../server/paths.ts";
import { LONG_COUNT } from "../support/http.ts";
import { freePort } from "../support/ports.ts";
import { killProcessesIn } from "../support/procs.ts";
import { keysUnder, startRedis, type TestRedis } from "../support/redis.ts";
import { DEFAULTS } from "../../server/config.ts";
import { serverEnv, spawnServer, type ServerProcess } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const run = promisify(execFile);
const NAME = "jobs.test";
const PASSWORD = "correct horse battery";

interface Setup {
  server: ServerProcess;
  redis: TestRedis;
  /** The server's REDIS_PREFIX. */
  prefix: string;
  /** The certificate the client trusts. */
  ca: Buffer;
  port: number;
  agent: https.Agent;
  /** The browser's address bar: https://jobs.test:<port>. */
  origin: string;
}
let setup: Setup | undefined;
const s = (): Setup =>
  setup ??
  (() => {
    throw new Error("the setup failed");
  })();

/**
 * The shipped file with the test's upstream, ports (on loopback), certificate
 * and name; each rewrite must find its line, so a change of the file's shape
 * fails here rather than testing something else.
 */
function siteConfig(
  shipped: string,
  { tls, plain, upstream, cert, key }: { tls: number; plain: number; upstream: number; cert: string; key: string },
): string {
  const ipv6 = fs.existsSync("/proc/net/if_inet6") && fs.readFileSync("/proc/net/if_inet6", "utf8").includes("0".repeat(31) + "1");
  const rewrites: [RegExp, string][] = [
    [/^(\s*)server 127\.0\.0\.1:3000;/gm, `$1server 127.0.0.1:${upstream};`],
    [/^(\s*)listen 443 ssl http2;/gm, `$1listen 127.0.0.1:${tls} ssl http2;`],
    [/^(\s*)listen \[::\]:443 ssl http2;/gm, ipv6 ? `$1listen [::1]:${tls} ssl http2;` : ""],
    [/^(\s*)listen 80;/gm, `$1listen 127.0.0.1:${plain};`],
    [/^(\s*)listen \[::\]:80;/gm, ipv6 ? `$1listen [::1]:${plain};` : ""],
    [/\/etc\/letsencrypt\/live\/jobs\.example\.com\/fullchain\.pem/g, cert],
    [/\/etc\/letsencrypt\/live\/jobs\.example\.com\/privkey\.pem/g, key],
    [/server_name jobs\.example\.com;/g, `server_name ${NAME};`],
  ];
  return rewrites.reduce((text, [pattern, replacement]) => {
    if (!pattern.test(text)) throw new Error(`deploy/nginx.conf has no line that matches ${pattern}`);
    return text.replace(pattern, replacement);
  }, shipped);
}

/** What the setup started, stopped after the last test (the latest first), even when the setup failed halfway. */
const stops: (() => Promise<void> | void)[] = [];

test.before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-nginx-"));
  stops.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  // A self-signed certificate for jobs.test: the client trusts it as its only CA.
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    `/CN=${NAME}`,
    "-addext",
    `subjectAltName=DNS:${NAME}`,
  ]);
  const redis = await startRedis();
  stops.push(() => redis.close());
  const [tls, plain] = [await freePort(), await freePort()];
  const origin = `https://${NAME}:${tls}`;
  const env = serverEnv(redis, "nginx", {
    NODE_ENV: "production",
    ALLOWED_HOSTS: NAME,
    ADMIN_PASSWORD: PASSWORD,
    SESSION_SECRET: "s".repeat(40),
    COUNT_STEP_DELAY_MS: "200",
  });
  stops.push(() => {
    killProcessesIn(env.JOB_LOG_DIR!);
    fs.rmSync(env.JOB_LOG_DIR!, { recursive: true, force: true });
  });
  const server = await spawnServer(env);
  stops.push(() => server.close());
  const shipped = fs.readFileSync(path.join(ROOT, "deploy", "nginx.conf"), "utf8");
  fs.writeFileSync(path.join(dir, "site.conf"), siteConfig(shipped, { tls, plain, upstream: server.port, cert, key }));
  // The http block Debian's nginx.conf has around sites-enabled/, with every path in this folder.
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `${kind}_temp_path ${path.join(dir, kind)};`)
    .join("\n  ");
  fs.writeFileSync(
    path.join(dir, "nginx.conf"),
    `pid ${path.join(dir, "nginx.pid")};
error_log stderr warn;
worker_processes 1;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  ${temp}
  include ${path.join(dir, "site.conf")};
}
`,
  );
  let nginxOut = "";
  const nginx = spawn("nginx", ["-p", dir, "-e", "stderr", "-c", path.join(dir, "nginx.conf"), "-g", "daemon off;"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [nginx.stdout, nginx.stderr]) stream.on("data", (chunk: Buffer) => (nginxOut += chunk.toString()));
  stops.push(async () => {
    if (nginx.exitCode !== null || nginx.signalCode !== null) return;
    const exited = new Promise((resolve) => nginx.once("exit", resolve));
    nginx.kill("SIGTERM");
    await exited;
  });
  setup = {
    server,
    redis,
    prefix: env.REDIS_PREFIX!,
    ca: fs.readFileSync(cert),
    port: tls,
    agent: new https.Agent({ ca: fs.readFileSync(cert), keepAlive: true, maxSockets: 1 }),
    origin,
  };
  stops.push(() => setup?.agent.destroy());
  await waitFor(
    () => {
      if (nginx.exitCode !== null) throw new Error(`nginx exited: ${nginxOut}`);
      return new Promise<boolean>((resolve) => {
        const socket = net.connect(tls, "127.0.0.1", () => resolve(socket.end() && true));
        socket.on("error", () => resolve(false));
      });
    },
    { message: () => `nginx to listen (${nginxOut})` },
  );
});

test.after.always(async () => {
  for (const stop of stops.reverse()) await stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  /** Whether the request went out on a connection an earlier one had opened. */
  reused: boolean;
}

/** A request to nginx's TLS port for https://jobs.test:<port><pathname>. */
function request(method: string, pathname: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> {
  const { port, agent } = s();
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", servername: NAME, port, method, path: pathname, agent, headers: { Host: `${NAME}:${port}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const all = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body: all, text: all.toString(), reused: req.reusedSocket });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** What a browser adds to a page's GET (a navigation). */
const navigation = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", Accept: "text/html" };
/** What a browser sends with a form's POST from this site's page. */
function formPost(contentType: string): Record<string, string> {
  return { ...navigation, Origin: s().origin, Referer: `${s().origin}/`, "Content-Type": contentType };
}
/** What htmx sends with a status poll. */
const poll = { "HX-Request": "true", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty" };

async function jobJson(id: string): Promise<{ state: string; status: string }> {
  const res = await request("GET", `/jobs/${id}/status`, { Accept: "application/json" });
  return JSON.parse(res.text) as { state: string; status: string };
}

async function submitCount(form: Record<string, string>): Promise<string> {
  const res = await request("POST", "/count", formPost("application/x-www-form-urlencoded"), new URLSearchParams(form).toString());
  if (res.status !== 303) throw new Error(`POST /count answered ${res.status}: ${res.text}`);
  return String(res.headers.location).split("/").pop()!;
}

test.serial(
  "a CSV file goes through nginx: the form, a multipart upload, the 303 followed, the polls until done, the report's downloads",
  async (t) => {
    const form = await request("GET", "/jobs/new/csv-check", navigation);
    t.is(form.status, 200);
    t.regex(form.text, /enctype="multipart\/form-data"/);

    const data = new FormData();
    data.set("file", new Blob(["id,name,amount\r\n1,Ann,3.5\r\n2,Bob,x\r\n"], { type: "text/csv" }), "people.csv");
    data.set("delimiter", "detect");
    data.set("header", "true");
    // The body and boundary as fetch would send them.
    const encoded = new Request("https://example.invalid/", { method: "POST", body: data });
    const res = await request(
      "POST",
      "/jobs/new/csv-check",
      formPost(encoded.headers.get("content-type")!),
      Buffer.from(await encoded.arrayBuffer()),
    );
    t.is(res.status, 303, res.text);
    const location = String(res.headers.location);
    t.regex(location, /^\/jobs\/[\w-]+$/);
    const id = location.split("/").pop()!;

    const page = await request("GET", location, navigation);
    t.is(page.status, 200);
    t.regex(page.text, /<h1>Check people\.csv<\/h1>/);

    // htmx's polls, every one on the connection the first request opened, until 286 says stop.
    const polls = await waitFor(
      async () => {
        const answer = await request("GET", `${location}/status`, poll);
        t.true(answer.reused, "each poll reuses the client's connection");
        return answer.status === 286 ? answer : null;
      },
      { timeout: 30_000, message: "the status poll to say the job is done (286)" },
    );
    t.regex(polls.text, /2 rows checked/);
    t.is((await jobJson(id)).state, "succeeded");

    const done = await request("GET", location, navigation);
    const csvLink = /href="([^"]+\/files\/problems\.csv)" download>/.exec(done.text)?.[1];
    t.truthy(csvLink, done.text);
    const problems = await request("GET", csvLink!);
    t.is(problems.status, 200);
    t.is(problems.text.split("\r\n")[0], "line,column,column name,severity,problem,value");
  },
);

test.serial("a count's downloads come through nginx: result.json and result.csv, as attachments", async (t) => {
  const id = await submitCount({ start: "1", end: "3", increment: "1" });
  await waitFor(async () => (await jobJson(id)).state === "succeeded", { timeout: 30_000, message: "the count to succeed" });
  const json = await request("GET", `/jobs/${id}/result.json`);
  t.is(json.status, 200);
  t.regex(String(json.headers["content-type"]), /application\/json/);
  t.regex(String(json.headers["content-disposition"]), /attachment/);
  t.deepEqual((JSON.parse(json.text) as { results: unknown[] }).results.length, 3);
  const csv = await request("GET", `/jobs/${id}/result.csv`);
  t.is(csv.status, 200);
  t.regex(String(csv.headers["content-type"]), /text\/csv/);
  t.regex(csv.text, /^[^\n]+\r?\n1\b/);
});

test.serial("a running count is cancelled through nginx: the button's POST answers 303 and the job ends cancelled", async (t) => {
  const id = await submitCount(LONG_COUNT);
  await waitFor(async () => (await jobJson(id)).state === "running", { timeout: 30_000, message: "the count to run" });
  const res = await request("POST", `/jobs/${id}/cancel`, formPost("application/x-www-form-urlencoded"), "");
  t.is(res.status, 303, res.text);
  t.is(res.headers.location, `/jobs/${id}`);
  await waitFor(async () => (await jobJson(id)).state === "cancelled", { timeout: 30_000, message: "the count to end cancelled" });
  t.pass();
});

test.serial("the operator logs in through nginx: the session cookie comes back Secure, and /admin answers with it", async (t) => {
  const login = await request("GET", "/admin/login", navigation);
  t.is(login.status, 200);
  const res = await request(
    "POST",
    "/admin/login",
    formPost("application/x-www-form-urlencoded"),
    new URLSearchParams({ password: PASSWORD, next: "/admin" }).toString(),
  );
  t.is(res.status, 303, res.text);
  const cookies = (res.headers["set-cookie"] as string[] | undefined) ?? [];
  t.true(cookies.length > 0);
  for (const cookie of cookies) t.regex(cookie, /;\s*secure/i, cookie);
  const admin = await request("GET", "/admin", { ...navigation, Cookie: cookies.map((c) => c.split(";")[0]).join("; ") });
  t.is(admin.status, 200);
  t.regex(admin.text, /Log out/i);
});

test.serial("a POST from another site is refused through nginx (403), and a Host not in ALLOWED_HOSTS gets 421", async (t) => {
  const crossSite = await request(
    "POST",
    "/count",
    { ...formPost("application/x-www-form-urlencoded"), "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" },
    new URLSearchParams(LONG_COUNT).toString(),
  );
  t.is(crossSite.status, 403);
  const otherHost = await request("GET", "/", { ...navigation, Host: `other.test:${s().port}` });
  t.is(otherHost.status, 421);
});

test.serial("nginx keeps its connection to sidejob between two polls (upstream keep-alive)", async (t) => {
  const id = await submitCount({ start: "1", end: "2", increment: "1" });
  // The connections between nginx and sidejob's port: with keep-alive, the
  // polls one after the other use one, and nginx closes none (a connection
  // nginx closed would wait in TIME_WAIT on its side).
  const upstream = () => connectionsTo(s().server.port);
  const before = upstream();
  for (let i = 0; i < 5; i++) t.is((await request("GET", `/jobs/${id}/status`, poll)).status >= 200, true);
  const after = upstream();
  t.is(after.timeWait - before.timeWait, 0, "no connection to sidejob was closed");
  t.true(after.established >= 1, "one is open, kept for the next poll");
});

/** The csv-check form with one file, encoded as fetch would send it: its body and Content-Type. */
async function csvForm(name: string, content: Buffer | string): Promise<{ body: Buffer; type: string }> {
  const data = new FormData();
  data.set("delimiter", "detect");
  data.set("header", "true");
  data.set("file", new Blob([typeof content === "string" ? content : new Uint8Array(content)], { type: "text/csv" }), name);
  const encoded = new Request("https://example.invalid/", { method: "POST", body: data });
  return { body: Buffer.from(await encoded.arrayBuffer()), type: encoded.headers.get("content-type")! };
}

test.serial("an upload streams through nginx: its first part is in Redis while the client still holds back the rest", async (t) => {
  const { port, ca, redis, prefix } = s();
  const rows = "id,value\n" + "1,some text that fills the file\n".repeat(100_000);
  const { body, type } = await csvForm("big.csv", rows);
  const half = Math.floor(body.length / 2);
  // A connection of its own, so that the other tests' agent is not held.
  const agent = new https.Agent({ ca, keepAlive: false });
  t.teardown(() => agent.destroy());
  const answer = new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        servername: NAME,
        port,
        method: "POST",
        path: "/jobs/new/csv-check",
        agent,
        headers: { Host: `${NAME}:${port}`, ...formPost(type), "Content-Length": String(body.length) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode!, location: res.headers.location }));
      },
    );
    req.on("error", reject);
    req.write(body.subarray(0, half));
    // Only once sidejob has stored some of the file does the client send the rest:
    // with nginx buffering the body, nothing would reach sidejob before the end.
    waitFor(async () => (await keysUnder(redis.client, prefix)).some((k) => k.includes(":upload:")), {
      timeout: 15_000,
      message: "the upload's first part to reach Redis before the body has ended",
    }).then(
      () => req.end(body.subarray(half)),
      (err: Error) => {
        req.destroy();
        reject(err);
      },
    );
  });
  const { status, location } = await answer;
  t.is(status, 303);
  const id = String(location).split("/").pop()!;
  await waitFor(async () => (await jobJson(id)).state === "succeeded", { timeout: 30_000, message: "the check to succeed" });
  t.pass();
});

test.serial("nginx lets through a form holding a file of JOB_UPLOAD_MAX_BYTES, and refuses a larger body at once (413)", async (t) => {
  // client_max_body_size: above the default upload limit by more than the
  // form around the file, so a file just over the limit reaches sidejob (its
  // own 413 page says the limit). Sending 50 MB through TLS takes ~20 s on a
  // busy machine, so the limit is read from the file here.
  const shipped = fs.readFileSync(path.join(ROOT, "deploy", "nginx.conf"), "utf8");
  const size = /^\s*client_max_body_size (\d+)m;/m.exec(shipped);
  t.truthy(size, "client_max_body_size in megabytes");
  const nginxLimit = Number(size![1]) * 1024 * 1024;
  const { body } = await csvForm("full.csv", "");
  t.true(nginxLimit >= DEFAULTS.JOB_UPLOAD_MAX_BYTES + body.length + 64 * 1024, `${nginxLimit} bytes`);
  // A body announced over that limit is refused by nginx from its headers, before any of it is sent.
  const refused = await request("POST", "/jobs/new/csv-check", {
    ...formPost("multipart/form-data; boundary=x"),
    "Content-Length": String(nginxLimit + 1),
  });
  t.is(refused.status, 413);
  t.regex(refused.text, /nginx/);
});

/** Sockets of this host connected to 127.0.0.1:port, from /proc/net/tcp: the client sides only. */
function connectionsTo(port: number): { established: number; timeWait: number } {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let established = 0;
  let timeWait = 0;
  for (const line of fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || !fields[2]!.endsWith(`:${hex}`)) continue;
    if (fields[3] === "01") established++;
    if (fields[3] === "06") timeWait++;
  }
  return { established, timeWait };
}

// sidejob behind Caddy as shipped (deploy/Caddyfile), over TLS: a private
// redis-server, the real server, a self-signed certificate for jobs.test and
// `caddy run` with a copy of the file that changes only the site's address
// (a test port), the upstream's address, and adds the certificate's files
// (`tls`, in place of the certificate Caddy would get itself) and global
// options that keep Caddy off fixed ports (its admin endpoint, port 80).
// The whole flow is nginx.test.ts's; here, what the Caddyfile itself sets.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import test from "ava";
import { ROOT } from "../../server/paths.ts";
import { freePort } from "../support/ports.ts";
import { killProcessesIn } from "../support/procs.ts";
import { startRedis } from "../support/redis.ts";
import { serverEnv, spawnServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const run = promisify(execFile);
const NAME = "jobs.test";
const PASSWORD = "correct horse battery";

/** What the setup started, stopped after the last test (the latest first), even when the setup failed halfway. */
const stops: (() => Promise<void> | void)[] = [];
let port = 0;
let agent: https.Agent | undefined;

test.before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-caddy-"));
  stops.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  // A self-signed certificate for jobs.test: the client trusts it as its only CA.
  const subject = ["-subj", `/CN=${NAME}`, "-addext", `subjectAltName=DNS:${NAME}`];
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key, "-out", cert, ...subject]);
  const redis = await startRedis();
  stops.push(() => redis.close());
  const env = serverEnv(redis, "caddy", { ALLOWED_HOSTS: NAME, ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "s".repeat(40) });
  stops.push(() => {
    killProcessesIn(env.JOB_LOG_DIR!);
    fs.rmSync(env.JOB_LOG_DIR!, { recursive: true, force: true });
  });
  const server = await spawnServer(env);
  stops.push(() => server.close());

  port = await freePort();
  const shipped = fs.readFileSync(path.join(ROOT, "deploy", "Caddyfile"), "utf8");
  const rewrites: [RegExp, string][] = [
    [/^jobs\.example\.com \{$/m, `jobs.test:${port} {\n\ttls ${cert} ${key}`],
    [/reverse_proxy 127\.0\.0\.1:3000 \{/, `reverse_proxy 127.0.0.1:${server.port} {`],
  ];
  const site = rewrites.reduce((text, [pattern, replacement]) => {
    if (!pattern.test(text)) throw new Error(`deploy/Caddyfile has no line that matches ${pattern}`);
    return text.replace(pattern, replacement);
  }, shipped);
  const config = path.join(dir, "Caddyfile");
  fs.writeFileSync(config, `{\n\tadmin off\n\thttp_port ${await freePort()}\n\tauto_https disable_redirects\n}\n\n${site}`);
  let out = "";
  // Caddy keeps its state under XDG_DATA_HOME and XDG_CONFIG_HOME: here, not in the user's home.
  const caddy = spawn("caddy", ["run", "--config", config, "--adapter", "caddyfile"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [caddy.stdout, caddy.stderr]) stream.on("data", (chunk: Buffer) => (out += chunk.toString()));
  stops.push(async () => {
    if (caddy.exitCode !== null || caddy.signalCode !== null) return;
    const exited = new Promise((resolve) => caddy.once("exit", resolve));
    caddy.kill("SIGTERM");
    await exited;
  });
  agent = new https.Agent({ ca: fs.readFileSync(cert), keepAlive: true, maxSockets: 1 });
  stops.push(() => agent?.destroy());
  await waitFor(
    () => {
      if (caddy.exitCode !== null) throw new Error(`caddy exited: ${out}`);
      return new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => resolve(socket.end() && true));
        socket.on("error", () => resolve(false));
      });
    },
    { message: () => `caddy to listen (${out})` },
  );
});

test.after.always(async () => {
  for (const stop of stops.reverse()) await stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function request(method: string, pathname: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", servername: NAME, port, method, path: pathname, agent, headers: { Host: `${NAME}:${port}`, ...headers } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const formPost = () => ({
  "Sec-Fetch-Site": "same-origin",
  "Sec-Fetch-Mode": "navigate",
  "Sec-Fetch-Dest": "document",
  Origin: `https://${NAME}:${port}`,
  "Content-Type": "application/x-www-form-urlencoded",
});

test.serial("through Caddy, a form's POST with a browser's headers is taken (303) and its job runs", async (t) => {
  const res = await request("POST", "/count", formPost(), new URLSearchParams({ start: "1", end: "2", increment: "1" }).toString());
  t.is(res.status, 303, res.text);
  const id = String(res.headers.location).split("/").pop()!;
  await waitFor(
    async () => {
      const job = JSON.parse((await request("GET", `/jobs/${id}/status`, { Accept: "application/json" })).text) as { state: string };
      return job.state === "succeeded";
    },
    { timeout: 30_000, message: "the count to succeed" },
  );
  t.pass();
});

test.serial("through Caddy, the operator's session cookie comes back Secure", async (t) => {
  const res = await request("POST", "/admin/login", formPost(), new URLSearchParams({ password: PASSWORD, next: "/admin" }).toString());
  t.is(res.status, 303, res.text);
  const cookies = (res.headers["set-cookie"] as string[] | undefined) ?? [];
  t.true(cookies.length > 0);
  for (const cookie of cookies) t.regex(cookie, /;\s*secure/i, cookie);
});

test.serial("through Caddy, the browser's Host reaches sidejob: /healthz answers 200 for jobs.test", async (t) => {
  const res = await request("GET", "/healthz");
  t.is(res.status, 200, "sidejob answers 421 to a Host not in ALLOWED_HOSTS: Caddy passed jobs.test on");
  t.is((JSON.parse(res.text) as { status: string }).status, "ok");
});

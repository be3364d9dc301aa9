// The status poll is answered by the request listener (server/listener.ts)
// before Koa: same answers as the Koa route, and the Koa route still answers
// what the fast path does not, from the read the listener made.
import http from "node:http";
import test from "ava";
import { useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { monitorRedis } from "../support/monitor.ts";
import { waitFor } from "../support/wait.ts";

// Serial: the last test stops Redis under the app.
const redis = useRedis(test, { appendonly: true });
const app = useApp(test, { redis, name: "poll", env: { COUNT_STEP_DELAY_MS: "60000", JOB_CONCURRENCY_COUNT: "8" } });

const HEADERS = [
  "content-type",
  "cache-control",
  "content-security-policy",
  "x-content-type-options",
  "referrer-policy",
  "x-frame-options",
  "cross-origin-opener-policy",
];

test.serial("a running job's poll answers 200 with the same headers as the Koa route, announcing only a change of state", async (t) => {
  const id = await app.submit({ start: "1", end: "3", increment: "1" });
  await app.waitForState(id, "running");
  const fast = await app.get(`/jobs/${id}/status?shown=running`);
  const body = await fast.text();
  t.is(fast.status, 200);
  t.regex(body, /state-running/);
  t.notRegex(body, /job-announce/);
  t.is(fast.headers.get("content-length"), String(Buffer.byteLength(body)));
  // HEAD is answered by the Koa route.
  const koa = await fetch(`${app.url}/jobs/${id}/status?shown=running`, { method: "HEAD" });
  for (const name of HEADERS) t.is(fast.headers.get(name), koa.headers.get(name), name);

  const announced = await (await app.get(`/jobs/${id}/status?shown=queued`)).text();
  t.regex(announced, /id="job-announce" hx-swap-oob="innerHTML">Counting has started\./);
  t.regex(await (await app.get(`/jobs/${id}/status?shown=running&shown=running`)).text(), /job-announce/);
});

test.serial("a finished job's poll answers 286; an unknown job's poll answers the 404 fragment", async (t) => {
  const id = await app.submit({ start: "1", end: "1", increment: "1" });
  await app.waitForState(id, "succeeded");
  const done = await app.get(`/jobs/${id}/status?shown=running`);
  t.is(done.status, 286);
  t.regex(await done.text(), /state-succeeded/);

  const missing = await app.get("/jobs/0123456789abcdef0123456789abcdef/status");
  t.is(missing.status, 404);
  t.regex(await missing.text(), /Job not found/);
  t.is(missing.headers.get("cache-control"), "no-store");
});

test.serial("with Redis down the poll answers the 503 fragment (and keeps polling); it recovers when Redis is back", async (t) => {
  const id = await app.submit({ start: "1", end: "3", increment: "1" });
  await app.waitForState(id, "running");
  t.is((await app.get(`/jobs/${id}/status?shown=running`)).status, 200);
  await redis.stop();
  try {
    const down = await app.get(`/jobs/${id}/status?shown=running`);
    t.is(down.status, 503);
    t.regex(await down.text(), /hx-trigger="every 2s"/);
  } finally {
    await redis.start();
  }
  // A restarted Redis has no scripts loaded (NOSCRIPT): the poll recovers anyway.
  const back = await waitFor(
    async () => {
      const res = await app.get(`/jobs/${id}/status?shown=running`);
      return res.status === 200 || res.status === 286 ? res : null;
    },
    { message: "the poll to answer again" },
  );
  t.regex(await back.text(), /id="job-status"/);
  // Twice: the first answer may have come from the Koa route, which reloads the script.
  t.true([200, 286].includes((await app.get(`/jobs/${id}/status?shown=running`)).status));
  // The app's other connections (a submit's) reconnect on their own time: the next test submits once they have.
  await waitFor(async () => (await app.get("/healthz")).status === 200, { message: "the app to accept writes again" });
});

/** The Koa app alone, without the request listener in front of it. */
async function koaOnly(t: import("ava").ExecutionContext): Promise<string> {
  const server = http.createServer(app.koa.callback());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function answer(res: Response) {
  const headers = Object.fromEntries(
    [...res.headers].filter(([name]) => name !== "date" && name !== "connection" && name !== "keep-alive"),
  );
  return { status: res.status, statusText: res.statusText, headers, body: await res.text() };
}

test.serial("the request listener and the Koa route answer every poll identically: status, headers and body", async (t) => {
  const koa = await koaOnly(t);
  const running = await app.submit({ start: "1", end: "3", increment: "1" });
  await app.waitForState(running, "running");
  const finished = await app.submit({ start: "1", end: "1", increment: "1" });
  await app.waitForState(finished, "succeeded");
  const paths = [
    `/jobs/${running}/status?shown=running`,
    `/jobs/${running}/status?shown=queued`,
    `/jobs/${running}/status`,
    `/jobs/${running}/status?shown=running&shown=running`,
    `/jobs/${finished}/status?shown=running`,
    "/jobs/0123456789abcdef0123456789abcdef/status",
  ];
  for (const path of paths) {
    const [viaListener, viaKoa] = await Promise.all([fetch(app.url + path), fetch(koa + path)]);
    t.deepEqual(await answer(viaListener), await answer(viaKoa), path);
  }
});

test.serial("a poll the listener hands on to Koa (no such job) reads Redis once", async (t) => {
  // MONITOR sees every command with its arguments: the ones that name this
  // job are this poll's (other jobs' heartbeats run meanwhile).
  const id = "fedcba9876543210fedcba9876543210";
  const seen: string[][] = [];
  const monitor = await monitorRedis(redis.url, (args, source) => {
    // Commands a script runs show with the source "lua": count the calls, not their insides.
    if (source !== "lua" && args.some((arg) => arg.includes(id))) seen.push(args);
  });
  t.teardown(() => monitor.close());
  const res = await app.get(`/jobs/${id}/status`);
  t.is(res.status, 404);
  // A marker after the poll: once MONITOR shows it, it has shown the poll's commands too.
  await redis.client.echo(`marker-${id}`);
  await waitFor(() => seen.some((args) => args[0]?.toLowerCase() === "echo"), { message: "the marker in MONITOR" });
  const reads = seen.filter((args) => args[0]?.toLowerCase() !== "echo");
  t.is(reads.length, 1, JSON.stringify(reads.map((a) => a.slice(0, 3))));
});

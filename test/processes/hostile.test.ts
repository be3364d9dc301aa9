// Clients that try to take the server down: a flood of pipelined requests
// nobody reads, slow headers, slow bodies, thousands of idle connections, and
// a server out of file descriptors. Each runs against the real server process.
import { execFileSync } from "node:child_process";
import http from "node:http";
import os from "node:os";
import test from "ava";
import { HTTP_LIMITS } from "../../server/http-server.ts";
import { JobStore, StoreBusyError } from "../../jobs/core/store.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { submit, waitForState } from "../support/http.ts";
import { closed, idleConnections, openDescriptors, pipelineFloodProcess, rssMb, trickle } from "../support/raw.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor, within } from "../support/wait.ts";

const redis = useRedis(test);

/** GET within a deadline (the bound the test asserts); returns how long it took in ms. */
async function timedGet(url: string, deadlineMs: number, ok: readonly number[] = [200]): Promise<number> {
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(deadlineMs) });
    await res.arrayBuffer();
  } catch (err) {
    // Say what was late, and how busy the machine was (other work shares it).
    throw new Error(`GET ${url}: no answer within ${deadlineMs} ms (${(err as Error).name}; load average ${os.loadavg()[0]!.toFixed(1)})`, {
      cause: err,
    });
  }
  if (!ok.includes(res.status)) throw new Error(`GET ${url} answered ${res.status}`);
  return performance.now() - started;
}

const max = (values: number[]) => Math.round(Math.max(...values));
const median = (values: number[]) => Math.round([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!);

/**
 * The bound on another client's answer during and after the flood. The aim is
 * 1 s (the test logs the figures: a few hundred ms at most on a quiet
 * machine); the test holds 5 s, because this machine is shared and its load
 * swings, and a timing budget belongs in a benchmark. Before the fix, pages
 * failed for over a minute: 5 s still tells the two apart.
 */
const FLOOD_ANSWER_MS = 5000;

/** The bound on another client's answer while a slow or idle client is held (the form: no Redis read). */
const OTHERS_MS = 2000;

/** How long after its deadline a timeout may take to close a connection: Node checks once a CONNECTIONS_CHECK_MS, and the machine is shared. */
const SLACK_MS = 2 * HTTP_LIMITS.CONNECTIONS_CHECK_MS + 1500;

test.serial(
  "50 connections pipelining 1,000 page requests each and never reading leave memory bounded, other clients served and jobs started",
  async (t) => {
    const server = await startServer(t, serverEnv(redis, "flood", { COUNT_STEP_DELAY_MS: "0" }));
    const pid = server.proc.pid!;
    // A finished job with 1,000 values: its page is the most expensive read there is.
    const big = await submit(server.url, { start: "1", end: "1000", increment: "1" });
    await waitForState(server.url, big, "succeeded", 20_000);
    const rssBefore = rssMb(pid);

    const flood = await pipelineFloodProcess(server.port, `GET /jobs/${big} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`, {
      connections: 50,
      requests: 1000,
    });
    t.teardown(() => flood.stop());
    const during = { health: [] as number[], poll: [] as number[] };
    let peak = rssBefore;
    let submitted: string | null = null;
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      peak = Math.max(peak, rssMb(pid));
      during.health.push(await timedGet(`${server.url}/healthz`, FLOOD_ANSWER_MS));
      during.poll.push(await timedGet(`${server.url}/jobs/${big}/status`, FLOOD_ANSWER_MS, [286]));
      submitted ??= await within(
        submit(server.url, { start: "1", end: "3", increment: "1" }),
        3000,
        "a job to be accepted during the flood",
      );
    }
    // The job submitted during the flood runs during the flood.
    await waitForState(server.url, submitted!, "succeeded", 10_000);
    peak = Math.max(peak, rssMb(pid));
    const opened = await flood.stop();

    const after = {
      health: await timedGet(`${server.url}/healthz`, FLOOD_ANSWER_MS),
      poll: await timedGet(`${server.url}/jobs/${big}/status`, FLOOD_ANSWER_MS, [286]),
    };
    const rssAfter = rssMb(pid);
    t.log(
      `RSS ${rssBefore.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB during, ${rssAfter.toFixed(0)} MB after; ${opened} flood connections; ` +
        `during: /healthz median ${median(during.health)} ms max ${max(during.health)} ms, poll median ${median(during.poll)} ms max ${max(during.poll)} ms ` +
        `(${during.health.length} each); after: /healthz ${Math.round(after.health)} ms, poll ${Math.round(after.poll)} ms`,
    );
    t.true(peak < 300, `peak RSS ${peak.toFixed(0)} MB`);
    t.true(rssAfter < 300, `RSS after ${rssAfter.toFixed(0)} MB`);
    t.notRegex(server.output(), /\n\s+at /, "no stack trace in the log");
  },
);

test("a client that sends its headers a byte at a time is answered 408 and closed once the headers timeout has passed, while others are served", async (t) => {
  const server = await startServer(t, serverEnv(redis, "slow-headers"));
  const slow = await trickle(
    server.port,
    "",
    `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nX-Slow: ${"a".repeat(10_000)}\r\n\r\n`,
  );
  for (let i = 0; i < 5; i++) await timedGet(`${server.url}/`, OTHERS_MS);
  const answer = await within(slow.answer, HTTP_LIMITS.HEADERS_TIMEOUT_MS + SLACK_MS, "the slow client to be closed");
  t.regex(answer, /^HTTP\/1\.1 408 /);
  await timedGet(`${server.url}/`, OTHERS_MS);
});

test("a client that sends its body a byte at a time is answered 408 and closed once the request timeout has passed, while others are served", async (t) => {
  const server = await startServer(t, serverEnv(redis, "slow-body"));
  const head = `POST /count HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n`;
  const slow = await trickle(server.port, head, "a".repeat(1000), 250, 1);
  for (let i = 0; i < 5; i++) await timedGet(`${server.url}/`, OTHERS_MS);
  const answer = await within(slow.answer, HTTP_LIMITS.REQUEST_TIMEOUT_MS + SLACK_MS, "the slow client to be closed");
  t.regex(answer, /^HTTP\/1\.1 408 /);
  await timedGet(`${server.url}/`, OTHERS_MS);
  t.notRegex(server.output(), /\n\s+at /, "no stack trace in the log");
});

test("2,000 connections that say nothing are closed once the headers timeout has passed, and others are served meanwhile", async (t) => {
  const server = await startServer(t, serverEnv(redis, "idle"));
  const sockets = await idleConnections(server.port, 2000);
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < 5; i++) await timedGet(`${server.url}/`, OTHERS_MS);
  const id = await within(submit(server.url, { start: "1", end: "2", increment: "1" }), 2000, "a job to be accepted");
  await waitForState(server.url, id, "succeeded");
  await within(Promise.all(sockets.map(closed)), HTTP_LIMITS.HEADERS_TIMEOUT_MS + SLACK_MS, "every idle connection to be closed");
  t.pass();
});

/** One request on a keep-alive agent of one socket: the connection is opened once and reused. */
function request(
  agent: http.Agent,
  url: string,
  method = "GET",
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        agent,
        method,
        headers: body ? { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": Buffer.byteLength(body) } : {},
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The lowest descriptor number a process does not use: with that as its limit, it can open nothing more. */
function lowestFreeDescriptor(pid: number): number {
  const used = new Set(
    execFileSync("ls", [`/proc/${pid}/fd`], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number),
  );
  let n = 0;
  while (used.has(n)) n++;
  return n;
}

test("a job accepted while the server has no file descriptor left stays queued, and starts once descriptors are free again", async (t) => {
  // As deployed (templates cached), and warmed up by a first job: a server
  // that has served a form has loaded every module a form needs.
  const env = serverEnv(redis, "fds", { NODE_ENV: "production", COUNT_STEP_DELAY_MS: "0" });
  const server = await startServer(t, env);
  const pid = server.proc.pid!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await request(agent, `${server.url}/count`, "POST", "start=1&end=2&increment=1");
  t.is(first.status, 303);
  await waitForState(server.url, first.headers.location!.split("/").pop()!, "succeeded");
  t.is((await request(agent, `${server.url}/healthz`)).status, 200);

  const limit = lowestFreeDescriptor(pid);
  execFileSync("prlimit", ["--pid", String(pid), `--nofile=${limit}:20000`]);
  t.teardown(() => execFileSync("prlimit", ["--pid", String(pid), "--nofile=20000:20000"]));
  t.log(`${openDescriptors(pid)} descriptors open, limit set to ${limit}`);

  const res = await request(agent, `${server.url}/count`, "POST", "start=1&end=2&increment=1");
  t.is(res.status, 303, res.text);
  const id = res.headers.location!.split("/").pop()!;
  const store = new JobStore(redis.client, { prefix: env.REDIS_PREFIX!, ttlSucceededS: 60, ttlFailedS: 60 });
  await waitFor(() => server.output().includes("out of file descriptors"), { message: "the server to say it is out of descriptors" });
  // Several retries later, it is still waiting, not failed.
  await waitFor(() => server.output().includes("out of file descriptors") && store.read(id).then((job) => job?.state === "queued"), {
    timeout: 3000,
  });
  const stillQueued = await store.read(id);
  t.is(stillQueued?.state, "queued");
  // A new connection may not be accepted now (EMFILE on accept); the server carries on.
  await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
  t.is(server.proc.exitCode, null, "the server still runs");

  execFileSync("prlimit", ["--pid", String(pid), "--nofile=20000:20000"]);
  await waitForState(store, id, "succeeded", 10_000);
  t.is((await timedGet(`${server.url}/healthz`, 2000)) >= 0, true);
  t.notRegex(server.output(), /\n\s+at /, "no stack trace in the log");
});

test("the web store fails at once when too many commands are already waiting", async (t) => {
  const store = new JobStore(redis.client, { prefix: "t-busy", ttlSucceededS: 60, ttlFailedS: 60, maxInFlight: 2 });
  const id = "0123456789abcdef0123456789abcdef";
  const reads = [store.read(id), store.read(id)];
  await t.throwsAsync(store.read(id), { instanceOf: StoreBusyError });
  t.deepEqual(await Promise.all(reads), [null, null]);
  t.is(await store.read(id), null, "once they are answered, reads go through again");
});

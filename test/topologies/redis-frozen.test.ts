// Redis that stops answering without closing its socket (SIGSTOP), and the
// 503 page's "Try again" link.
import { execFileSync } from "node:child_process";
import net from "node:net";
import test from "ava";
import { startApp, useApp } from "../support/app.ts";
import { LONG_COUNT } from "../support/http.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor, within } from "../support/wait.ts";
import { START_GRACE_MS } from "../../server/supervisor/index.ts";
import { connectRedis, waitUntilReady, WEB_COMMAND_TIMEOUT_MS } from "../../jobs/core/redis.ts";
import { JobStore } from "../../jobs/core/store.ts";
import { leaseMsOf } from "../../jobs/core/settings.ts";

const redis = useRedis(test);
const app = useApp(test, { redis, name: "frozen" });

/** A status poll and a page each fail within one read's command timeout (1.5 s) and a margin. */
const BOUND_MS = 2500;

test.serial("with Redis frozen, a status poll fails with 503 within the same bound as the job page", async (t) => {
  const id = await app.submit({ start: "1", end: "2", increment: "1" });
  await app.waitForState(id, "succeeded");
  process.kill(redis.pid!, "SIGSTOP");
  t.teardown(() => process.kill(redis.pid!, "SIGCONT"));

  const get = async (path: string) => {
    const res = await fetch(app.url + path, { signal: AbortSignal.timeout(BOUND_MS) });
    return { status: res.status, text: await res.text() };
  };
  const [poll, page] = await Promise.all([get(`/jobs/${id}/status?shown=running`), get(`/jobs/${id}`)]);
  t.is(poll.status, 503);
  t.regex(poll.text, /hx-trigger="every 2s"/);
  t.is(page.status, 503);
  process.kill(redis.pid!, "SIGCONT");
});

test.serial("a claim Redis ran after the supervisor gave up on its answer goes back to the queue, and the job runs", async (t) => {
  // One slot, held by a long job, and a second job waiting for it.
  const one = await startApp(t, { redis, name: "frozen-claim", env: { JOB_CONCURRENCY_COUNT: "1", COUNT_STEP_DELAY_MS: "100" } });
  const first = await one.waitForState(await one.submit(LONG_COUNT), "running");
  const second = await one.submit({ start: "1", end: "3", increment: "1" });
  t.is((await one.store.read(second))?.state, "queued");

  process.kill(redis.pid!, "SIGSTOP");
  t.teardown(() => process.kill(redis.pid!, "SIGCONT"));
  // The slot frees; a claim goes to the frozen Redis and the supervisor gives up on its answer.
  process.kill(first.pid!, "SIGKILL");
  await waitFor(() => !one.supervisor.pids().includes(first.pid!), { message: "the supervisor to see the first job's exit" });
  await one.supervisor.pump();
  // Redis runs the claims waiting on its socket: the second job is now this instance's, with no process.
  process.kill(redis.pid!, "SIGCONT");

  // Bound: shorter than the claim's start lease (2.5 heartbeats + START_GRACE_MS), after which the sweep
  // would record it never-started without it ever running.
  const done = await one.waitForState(second, ["succeeded", "failed"], leaseMsOf(one.config.jobHeartbeatMs) + START_GRACE_MS - 2000);
  t.is(done.attempt, 1, "it ran on its first attempt");
  t.like(done, { state: "succeeded", results: [1, 2, 3] });
});

test.serial("a web store call answered by Redis while this process was stalled past the deadline still succeeds", async (t) => {
  const web = connectRedis(redis.url, "web");
  t.teardown(() => web.disconnect());
  await waitUntilReady(web, redis.url, 10_000);
  const store = new JobStore(web, { prefix: "stalled", ttlSucceededS: 60, ttlFailedS: 60, deadlineMs: WEB_COMMAND_TIMEOUT_MS });
  // Its last command is not a PING: another client can then see when Redis has run the store's.
  const clientId = String(await web.client("ID"));
  await web.client("SETNAME", "stalled-web");
  const answer = store.ping().then(
    () => "answered",
    (err: Error) => err.message,
  );
  // The web connection pipelines its commands: they are written at the next setImmediate, before this one's
  // callback, and no answer can be read between the two.
  await new Promise(setImmediate);
  // The event loop held past the deadline, as a busy machine does, and until Redis has run the PING (on a
  // loaded machine Redis itself may be slow to) and so written its answer to this client's socket.
  const socket = new URL(redis.url).pathname;
  const ran = () => / cmd=ping /.test(execFileSync("redis-cli", ["-s", socket, "CLIENT", "LIST", "ID", clientId], { encoding: "utf8" }));
  const until = Date.now() + WEB_COMMAND_TIMEOUT_MS + 1000;
  while (Date.now() < until || !ran());
  t.is(await answer, "answered");
});

/** Sends one raw request line (an absolute-form target) and returns the whole answer. */
async function raw(port: number, requestLine: string): Promise<string> {
  const socket = net.connect(port, "127.0.0.1");
  let answer = "";
  socket.on("data", (c: Buffer) => (answer += c.toString()));
  socket.write(`${requestLine}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  await within(new Promise((resolve) => socket.once("close", resolve)), 5000, "the answer");
  return answer;
}

test.serial("the 503 page's Try again link is built from the path alone, never from an absolute-form target", async (t) => {
  await redis.stop();
  t.teardown(() => redis.start());
  const port = Number(new URL(app.url).port);
  const id = "0123456789abcdef0123456789abcdef";
  const answer = await raw(port, `GET http://evil.example/jobs/${id}?x=1 HTTP/1.1`);
  t.regex(answer, /^HTTP\/1\.1 503 /);
  t.true(answer.includes(`<a href="/jobs/${id}?x=1">Try again</a>`), answer);
  t.false(answer.includes("evil.example"));
  await redis.start();
});

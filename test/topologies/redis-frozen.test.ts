// Redis that stops answering without closing its socket (SIGSTOP), and the
// 503 page's "Try again" link.
import net from "node:net";
import test from "ava";
import { useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { within } from "../support/wait.ts";

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

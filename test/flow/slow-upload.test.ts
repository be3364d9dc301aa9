// Uploads on slow links: an upload that keeps sending bytes has no
// whole-request deadline (REQUEST_TIMEOUT_MS), only an idle one
// (UPLOAD_IDLE_TIMEOUT_MS); a request that is not an upload keeps the
// whole-request deadline. Both limits are set low here, the uploads sent over
// raw sockets at a pace set by timers.
import net from "node:net";
import test from "ava";
import { useRedis, keysUnder } from "../support/redis.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { memoryLogger } from "../support/logs.ts";
import { waitFor } from "../support/wait.ts";
import { waitForState } from "../support/http.ts";
import { closed, connect, trickle } from "../support/raw.ts";
import { monitorRedis } from "../support/monitor.ts";
import { HTTP_LIMITS } from "../../server/http-server.ts";

const redis = useRedis(test);

const REQUEST_TIMEOUT_MS = 2000;
const IDLE_MS = 1000;
/** Node checks its own timeouts once a second; a busy machine adds to it. */
const SLACK_MS = 2 * HTTP_LIMITS.CONNECTIONS_CHECK_MS + 3000;
const env = { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS) };

const leftInRedis = async (a: TestApp) =>
  (await keysUnder(redis.client, a.prefix)).filter((k) => k.includes(":upload:") || k.includes(":job:"));

/** The csv-check form as multipart/form-data: its head (request line and headers) and its body. */
function csvForm(port: number, csv: string): { head: string; body: Buffer } {
  const boundary = "----slow";
  const body = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="delimiter"\r\n\r\ndetect\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="header"\r\n\r\ntrue\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n` +
      `--${boundary}--\r\n`,
  );
  const head =
    `POST /jobs/new/csv-check HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
    `Content-Length: ${body.length}\r\n\r\n`;
  return { head, body };
}

/** Reads what the server answers on a socket; `status()` is the answer's status once its headers are in. */
function answerOf(socket: net.Socket): { text: () => string; status: () => number | null } {
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  return {
    text: () => text,
    status: () => (text.includes("\r\n\r\n") ? Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0) : null),
  };
}

test("an upload sent slowly for longer than REQUEST_TIMEOUT_MS, never idle for UPLOAD_IDLE_TIMEOUT_MS, is taken and its job runs", async (t) => {
  const a = await startApp(t, { redis, name: "slow-upload", env });
  const port = Number(new URL(a.url).port);
  const rows = Array.from({ length: 2000 }, (_, i) => `${i},value ${i}`).join("\n");
  const { head, body } = csvForm(port, `id,value\n${rows}\n`);
  const socket = await connect(port);
  t.teardown(() => socket.destroy());
  const answer = answerOf(socket);
  const started = Date.now();
  socket.write(head);
  // 20 pieces, one every 250 ms: about 5 s in all, well within the idle limit between two pieces.
  const pieces = 20;
  const size = Math.ceil(body.length / pieces);
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= body.length) return clearInterval(timer);
    socket.write(body.subarray(sent, sent + size));
    sent += size;
  }, 250);
  t.teardown(() => clearInterval(timer));
  const status = await waitFor(answer.status, { message: "the form's answer" });
  const elapsed = Date.now() - started;
  t.is(status, 303, answer.text());
  t.true(elapsed > 2 * REQUEST_TIMEOUT_MS, `the upload took ${elapsed} ms`);
  t.log(`${body.length} bytes sent over ${elapsed} ms (REQUEST_TIMEOUT_MS=${REQUEST_TIMEOUT_MS})`);
  const id = /\r\nLocation: \/jobs\/([^\r\n]+)\r\n/i.exec(answer.text())![1]!;
  const job = await waitForState(a.store, id, "succeeded");
  t.like(job, { state: "succeeded" });
});

test("an upload that sends nothing for UPLOAD_IDLE_TIMEOUT_MS is refused with 408, keeps nothing in Redis, and logs one line saying why", async (t) => {
  const logs = memoryLogger();
  // A longer idle limit than the file's other tests: a busy machine must store the first part before it runs out.
  const idleMs = 3000;
  const a = await startApp(t, {
    redis,
    name: "stalled-upload",
    env: { ...env, UPLOAD_IDLE_TIMEOUT_MS: String(idleMs) },
    logger: logs.logger,
  });
  const port = Number(new URL(a.url).port);
  const { head, body } = csvForm(port, "id,value\n" + "1,some text that fills the file\n".repeat(20_000));
  // Whether a chunk of the file reached Redis, seen as it is written: on a busy machine the idle limit may
  // stop the upload and delete it before a look at the keys would find it.
  let stored = false;
  const monitor = await monitorRedis(redis.url, (args) => {
    if (args.some((arg) => arg.includes(a.prefix) && arg.includes(":upload:"))) stored = true;
  });
  t.teardown(() => monitor.close());
  const socket = await connect(port);
  t.teardown(() => socket.destroy());
  const answer = answerOf(socket);
  socket.write(head);
  // More than a chunk of the file (stored at once), then nothing more.
  socket.write(body.subarray(0, 200_000));
  const status = await waitFor(answer.status, {
    timeout: idleMs + SLACK_MS + 20_000,
    message: "the server's answer to the stalled upload",
  });
  t.true(stored, "a part of the file was stored before the upload stalled");
  t.is(status, 408);
  t.regex(answer.text(), /Nothing more of the file arrived for 3 s, so the upload was stopped and nothing was kept\./);
  await closed(socket);
  await waitFor(async () => (await leftInRedis(a)).length === 0, { message: "the partial upload to be deleted" });
  t.deepEqual(await leftInRedis(a), []);
  t.is(await a.store.queueLength(), 0);
  const lines = logs.records.filter((r) => r.path === "/jobs/new/csv-check");
  t.is(lines.length, 1);
  t.like(lines[0], { method: "POST", status: 408 });
  t.regex(lines[0]!.msg, /^POST \/jobs\/new\/csv-check 408 .* ms: upload stalled: no byte for 3 s after .*, stopped, nothing kept$/);
});

test("a request that is not an upload still has REQUEST_TIMEOUT_MS to send its body: a slow one is answered 408 and closed", async (t) => {
  const a = await startApp(t, { redis, name: "slow-form", env });
  const port = Number(new URL(a.url).port);
  const head = `POST /count HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n`;
  const slow = await trickle(port, head, "a".repeat(1000), 100, 1);
  t.teardown(() => slow.socket.destroy());
  const text = await Promise.race([
    slow.answer,
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error("not closed in time")), REQUEST_TIMEOUT_MS + SLACK_MS).unref()),
  ]);
  t.regex(text, /^HTTP\/1\.1 408 /);
  t.is(await a.store.queueLength(), 0);
});

test("Redis frozen past the web's deadline in the middle of an upload: the chunk write is sent again, the file is kept whole, and its job runs", async (t) => {
  const a = await startApp(t, { redis, name: "frozen-upload" });
  const port = Number(new URL(a.url).port);
  const rows = Array.from({ length: 20_000 }, (_, i) => `${i},value ${i}`).join("\n");
  const csv = `id,value\n${rows}\n`;
  const { head, body } = csvForm(port, csv);
  const socket = await connect(port);
  t.teardown(() => socket.destroy());
  const answer = answerOf(socket);
  const half = Math.floor(body.length / 2);
  socket.write(head);
  socket.write(body.subarray(0, half));
  await waitFor(async () => (await leftInRedis(a)).some((k) => k.includes(":upload:")), { message: "the first chunks stored" });

  // Frozen until the web store has given up on a chunk write at least once (its 1.5 s deadline).
  const failures = a.webStore.failures;
  process.kill(redis.pid!, "SIGSTOP");
  let frozen = true;
  t.teardown(() => frozen && process.kill(redis.pid!, "SIGCONT"));
  socket.write(body.subarray(half));
  await waitFor(() => a.webStore.failures > failures, { message: "a chunk write given up at the web's deadline" });
  process.kill(redis.pid!, "SIGCONT");
  frozen = false;

  await waitFor(() => answer.status(), { message: "the answer" });
  t.is(answer.status(), 303, answer.text().slice(0, 300));
  const id = /Location: \/jobs\/([0-9a-f]{32})/i.exec(answer.text())![1]!;
  const job = await a.waitForState(id, "succeeded");
  t.deepEqual(job.params.file, { name: "slow.csv", size: Buffer.byteLength(csv) }, "the file's size as sent");
  t.is(job.status, "Checked all 20,000 rows", "every row checked, none twice");
});

// What an upload leaves in Redis: nothing once its job is cancelled, nothing
// once the request that carried it is cut off (the client goes away), and the
// handler ends with its log line. An upload that stalls: slow-upload.test.ts.
import net from "node:net";
import test, { type ExecutionContext } from "ava";
import { useRedis, keysUnder } from "../support/redis.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { memoryLogger } from "../support/logs.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);

const uploadKeys = async (a: TestApp) => (await keysUnder(redis.client, a.prefix)).filter((k) => k.includes(":upload:"));

function postCsv(a: TestApp, content: string): Promise<Response> {
  const form = new FormData();
  form.set("file", new Blob([content], { type: "text/csv" }), "f.csv");
  form.set("delimiter", "detect");
  form.set("header", "true");
  return fetch(`${a.url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual" });
}

test("ten rounds of upload and cancel leave no upload behind", async (t) => {
  const a = await startApp(t, { redis, name: "upload-cancel", takesJobs: false });
  const content = "id,value\n" + "1,some text that fills the file\n".repeat(20_000);
  for (let round = 0; round < 10; round++) {
    const res = await postCsv(a, content);
    t.is(res.status, 303);
    const id = res.headers.get("location")!.split("/").pop()!;
    t.is((await a.post(`/jobs/${id}/cancel`, {})).status, 303);
    t.like(await a.store.read(id), { state: "cancelled" });
  }
  t.deepEqual(await uploadKeys(a), []);
});

/**
 * Starts a multipart upload on a raw socket: the headers, a file part's
 * start and `bytes` of it, then nothing more (the declared length is never
 * reached). Resolves with the socket once the upload is in Redis.
 */
async function stalledUpload(t: ExecutionContext, a: TestApp, bytes: number): Promise<net.Socket> {
  const { port } = new URL(a.url);
  const socket = net.connect(Number(port), "127.0.0.1");
  t.teardown(() => socket.destroy());
  socket.on("error", () => {});
  const boundary = "----stall";
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\nContent-Type: text/csv\r\n\r\n`;
  socket.write(
    `POST /jobs/new/csv-check HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
      `Content-Length: ${head.length + bytes * 4}\r\n\r\n${head}`,
  );
  socket.write("id,value\n" + "x".repeat(bytes - 10) + "\n");
  await waitFor(async () => (await uploadKeys(a)).length > 0, { message: "the upload's first chunks to be stored" });
  return socket;
}

test("an upload whose client goes away midway keeps nothing, and its handler ends with a log line", async (t) => {
  const logs = memoryLogger();
  const a = await startApp(t, { redis, name: "upload-abort", logger: logs.logger });
  const socket = await stalledUpload(t, a, 200_000);
  socket.destroy();
  await waitFor(async () => (await uploadKeys(a)).length === 0, { message: "the partial upload to be deleted" });
  await waitFor(() => logs.records.some((r) => r.method === "POST" && r.path === "/jobs/new/csv-check" && r.status === 408), {
    message: "the handler's log line",
  });
  t.deepEqual(await uploadKeys(a), []);
});

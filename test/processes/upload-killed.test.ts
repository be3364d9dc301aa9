// A server killed (SIGKILL) in the middle of an upload to FILE_STORE_DIR: the
// part it had written stays on the disk, named by an upload key that expires
// (UPLOAD_IDLE_TIMEOUT_MS + 60 s after its last byte), and the next server's
// sweep removes it once the key is gone. No job was created. The minute the
// key lives is not waited out: the test's own key is made to expire at once,
// as time would; the kill, the restart and the sweep are real.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { keysUnder, useRedis } from "../support/redis.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { connect } from "../support/raw.ts";
import { waitFor } from "../support/wait.ts";

const redis = useRedis(test);
const IDLE_MS = 1000;

/** The bytes of the upload's file under `root` (<prefix>/<id>/uploads/<field>), by job id. */
function uploadsUnder(root: string): Map<string, number> {
  const found = new Map<string, number>();
  if (!fs.existsSync(root)) return found;
  for (const id of fs.readdirSync(root)) {
    const file = path.join(root, id, "uploads", "file");
    if (fs.existsSync(file)) found.set(id, fs.statSync(file).size);
  }
  return found;
}

test("a server killed mid-upload leaves a part on the disk that the next server's sweep removes once its key has expired; no job is made", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-upload-killed-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = serverEnv(redis, "upload-killed", { FILE_STORE_DIR: dir, UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS) });
  const root = path.join(dir, env.REDIS_PREFIX!);
  const first = await startServer(t, env);

  // The csv-check form with a 16 MB file, of which 4 MB are sent; then nothing more.
  const boundary = "----killed";
  const rows = Buffer.alloc(16 * 1024 * 1024, "1,2,3\n");
  const start = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nid,a,b\n`,
  );
  const end = Buffer.from(`\r\n--${boundary}--\r\n`);
  const socket = await connect(first.port);
  t.teardown(() => socket.destroy());
  socket.on("error", () => {});
  socket.write(
    `POST /jobs/new/csv-check HTTP/1.1\r\nHost: 127.0.0.1:${first.port}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
      `Content-Length: ${start.length + rows.length + end.length}\r\n\r\n`,
  );
  socket.write(start);
  socket.write(rows.subarray(0, 4 * 1024 * 1024));
  const [id, size] = await waitFor(() => [...uploadsUnder(root)].find(([, bytes]) => bytes >= 1024 * 1024), {
    message: "a part of the upload is on the disk",
  });

  first.kill("SIGKILL");
  await first.exited;
  // What the dead server left: the part, and the key that names it, which expires by itself.
  t.true(uploadsUnder(root).has(id), `${size} bytes of ${id}`);
  const keys = await keysUnder(redis.client, env.REDIS_PREFIX!);
  const uploadKey = keys.find((key) => key.includes(id) && key.includes(":upload:"));
  t.truthy(uploadKey, keys.join(" "));
  const ttl = await redis.client.pttl(uploadKey!);
  t.true(ttl > 0 && ttl <= IDLE_MS + 60_000, `the upload key expires in ${ttl} ms`);
  t.deepEqual(
    keys.filter((key) => key.includes(id) && !key.includes(":upload:")),
    [],
    "no job, nothing else of it",
  );

  // Its minute passes.
  await redis.client.pexpire(uploadKey!, 1);
  await waitFor(async () => (await redis.client.exists(uploadKey!)) === 0, { message: "the upload key expired" });

  const second = await startServer(t, env);
  // The sweep logs once it has removed what it found.
  await waitFor(() => /file store: removed the files of 1 job\(s\) Redis no longer names/.test(second.output()), {
    message: "the next server's sweep says it removed the part",
  });
  t.false(fs.existsSync(path.join(root, id)));
  t.deepEqual(fs.readdirSync(root), []);
  t.deepEqual(
    (await keysUnder(redis.client, env.REDIS_PREFIX!)).filter((key) => key.includes(id)),
    [],
  );
});

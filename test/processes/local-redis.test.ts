// `npm start` with nothing running: without REDIS_URL, when nothing answers
// on the default address, the server starts a redis-server of the checkout's
// own under ./var/redis (a unix socket, appendonly), reuses it on the next
// start, and `npm run redis:stop` stops it. Each server here runs in a
// network namespace of its own (root only), so the Redis on 6379 is out of
// its reach: the test plays "a machine with no Redis running".
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { Redis } from "ioredis";
import { ROOT } from "../../server/paths.ts";
import { jsonLines } from "../support/logs.ts";
import { isAlive } from "../support/procs.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import { findProgram } from "../../jobs/core/programs.ts";

const canIsolate =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync("unshare", ["-n", "true"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

/** A folder standing in for a fresh checkout's working directory; its redis-server is stopped at the end. */
function checkout(t: import("ava").ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-checkout-"));
  t.teardown(() => {
    const pidFile = path.join(dir, "var/redis/redis.pid");
    if (fs.existsSync(pidFile)) {
      try {
        process.kill(Number(fs.readFileSync(pidFile, "utf8")), "SIGKILL");
      } catch {
        // already stopped
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const env = (dir: string) => ({ JOB_LOG_DIR: path.join(dir, "logs"), REDIS_PREFIX: "local" });
/**
 * For a server that must find nothing answering: how long it tries. Nothing
 * listens in its namespace, so each try is refused at once and a longer wait
 * (spawnNode's 15 s, for a busy machine's slow start) only delays its exit.
 */
const NOTHING_ANSWERS = { REDIS_STARTUP_WAIT_MS: "1000" };

if (!canIsolate) {
  // CI runs as root, where unshare works: there a missing namespace is a failure, not a skip.
  if (process.env.CI)
    test("the managed local Redis can be tested: root and unshare -n are available", (t) => t.fail("not root, or unshare -n failed"));
  else test.skip("the managed local Redis needs root and unshare -n to be tested", () => {});
} else {
  test.serial(
    "with no Redis answering, npm start starts one of its own on a unix socket with appendonly, reuses it, and redis:stop stops it",
    async (t) => {
      const dir = checkout(t);
      const first = await startServer(t, env(dir), { cwd: dir, isolatedNetwork: true });
      const socket = path.join(dir, "var/redis/redis.sock");
      t.regex(
        first.output(),
        new RegExp(
          `started a redis-server for this checkout: data in ${dir}/var/redis, socket ${socket}, pid \\d+ \\(npm run redis:stop stops it\\)`,
        ),
      );
      t.regex(first.output(), new RegExp(`listening on .*\\(Redis unix://${socket},`));
      const lines = jsonLines(first.output());
      t.true(lines.length >= 2, first.output());
      t.true(
        lines.every((l) => typeof l.instance === "string" && l.instance === lines.at(-1)!.instance),
        "every line carries the instance, the line about the local Redis too",
      );
      const pid = Number(fs.readFileSync(path.join(dir, "var/redis/redis.pid"), "utf8"));

      const client = new Redis({ path: socket });
      t.teardown(() => client.disconnect());
      t.deepEqual(await client.config("GET", "appendonly"), ["appendonly", "yes"]);
      t.deepEqual(await client.config("GET", "port"), ["port", "0"], "no network address");
      await client.set("local:kept", "1");

      await first.close();
      t.true(isAlive(pid), "it outlives the server");
      const second = await startServer(t, env(dir), { cwd: dir, isolatedNetwork: true });
      t.regex(second.output(), new RegExp(`reusing this checkout's redis-server on ${socket}`));
      t.is(await client.get("local:kept"), "1");
      await second.close();

      const stopped = execFileSync(process.execPath, [path.join(ROOT, "scripts/redis-stop.mjs")], { cwd: dir, encoding: "utf8" });
      t.regex(stopped, new RegExp(`stopped the redis-server of this checkout \\(pid ${pid}\\)`));
      await waitFor(() => !isAlive(pid), { timeout: 5000, message: "redis-server to stop" });
      t.true(fs.existsSync(path.join(dir, "var/redis/appendonlydir")), "its data stays");
    },
  );

  test.serial("with REDIS_URL set and nothing answering there, the server starts nothing and says so", async (t) => {
    const dir = checkout(t);
    const server = await startServer(
      t,
      { ...env(dir), ...NOTHING_ANSWERS, REDIS_URL: "redis://127.0.0.1:6390" },
      { cwd: dir, isolatedNetwork: true, waitForListening: false },
    );
    const { code } = await server.exited;
    t.is(code, 1);
    t.regex(server.output(), /Cannot reach Redis at REDIS_URL=redis:\/\/127\.0\.0\.1:6390/);
    t.false(fs.existsSync(path.join(dir, "var/redis")), "nothing was started");
  });

  test.serial("with no redis-server installed, the message says how to install one and how to point at a server", async (t) => {
    const dir = checkout(t);
    const emptyPath = path.join(dir, "bin");
    fs.mkdirSync(emptyPath);
    // Only redis-server is missing: the built-in types' python3 is there, as the start checks it.
    fs.symlinkSync(findProgram("python3", process.env.PATH)!, path.join(emptyPath, "python3"));
    const server = await startServer(
      t,
      { ...env(dir), PATH: `${emptyPath}:/usr/sbin:/sbin` },
      { cwd: dir, isolatedNetwork: true, waitForListening: false },
    );
    const { code } = await server.exited;
    t.is(code, 1);
    t.regex(server.output(), /redis-server is not on PATH/);
    t.regex(server.output(), /apt-get install redis-server/);
    t.regex(server.output(), /brew install redis/);
    t.regex(server.output(), /set REDIS_URL/);
  });

  for (const [name, settings, message] of [
    [
      "REDIS_CLUSTER_NODES",
      { REDIS_CLUSTER_NODES: "127.0.0.1:7000" },
      /Cannot reach the Redis Cluster at REDIS_CLUSTER_NODES=127\.0\.0\.1:7000/,
    ],
    [
      "REDIS_SENTINELS",
      { REDIS_SENTINELS: "127.0.0.1:26379", REDIS_SENTINEL_NAME: "mymaster" },
      /Cannot reach the master mymaster through the sentinels at REDIS_SENTINELS=127\.0\.0\.1:26379/,
    ],
  ] as const) {
    test.serial(`with ${name} set and nothing answering, the server starts nothing and names what it tried`, async (t) => {
      const dir = checkout(t);
      const server = await startServer(
        t,
        { ...env(dir), ...NOTHING_ANSWERS, ...settings },
        { cwd: dir, isolatedNetwork: true, waitForListening: false },
      );
      const { code } = await server.exited;
      t.is(code, 1);
      t.regex(server.output(), message);
      t.notRegex(server.output(), /at \w+ \(/, "no stack trace");
      t.false(fs.existsSync(path.join(dir, "var/redis")), "nothing was started");
    });
  }
}

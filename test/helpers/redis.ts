// A private redis-server per test file, on a free port, keeping nothing on
// disk unless asked (appendonly for restart tests). Tests never touch a Redis
// they did not start.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { waitFor } from "./wait.ts";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  /** unix:///…/redis.sock, or redis://127.0.0.1:<port> with { tcp: true }. */
  url: string;
  port: number;
  /** A plain client for assertions. */
  client: Redis;
  stop(): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens on a unix socket in a fresh folder (no port to race for between
 * test files running in parallel), plus a free TCP port when asked.
 */
export async function startRedis({ appendonly = false, tcp = false } = {}): Promise<TestRedis> {
  const port = tcp ? await freePort() : 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-redis-"));
  const socket = path.join(dir, "redis.sock");
  let proc: ChildProcess | null = null;
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--unixsocket", socket, "--unixsocketperm", "700", "--save", "", "--dir", dir, "--appendonly", appendonly ? "yes" : "no", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning"];
  const url = tcp ? `redis://127.0.0.1:${port}` : `unix://${socket}`;
  const client = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on("error", () => {});

  const ping = async () => {
    if (!proc || proc.exitCode !== null) throw new Error("redis-server exited");
    const probe = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    probe.on("error", () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  };

  const handle: TestRedis = {
    url,
    port,
    client,
    async start() {
      proc = spawn("redis-server", args, { stdio: "ignore" });
      await waitFor(ping, { timeout: 10_000, message: "redis-server to answer" });
    },
    async stop() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((resolve) => p.once("exit", resolve));
      p.kill("SIGTERM");
      await exited;
    },
    async close() {
      client.disconnect();
      await handle.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  await client.connect();
  return handle;
}

/** Every key under a prefix (tests only; never on a server they did not start). */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

/**
 * Registers before/after hooks that start a private redis-server for the
 * test file and stop it at the end; the server is on `.redis` once tests run.
 */
export function usePrivateRedis(test: import("ava").TestFn, options: { appendonly?: boolean } = {}): { redis: TestRedis } {
  const holder = {} as { redis: TestRedis };
  test.before(async () => {
    holder.redis = await startRedis(options);
  });
  test.after.always(async () => {
    await holder.redis?.close();
  });
  return holder;
}

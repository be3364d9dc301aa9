// A private redis-server, keeping nothing on disk unless asked (appendonly for
// restart tests). Tests never touch a Redis they did not start.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestFn } from "ava";
import { Redis } from "ioredis";
import { answers } from "../../server/local-redis.ts";
import { freePort } from "./ports.ts";
import { fileScoped } from "./scope.ts";
import { waitFor } from "./wait.ts";

export interface RedisOptions {
  /** Keep what was written across stop() and start(). */
  appendonly?: boolean;
  /** Listen on a free TCP port too (the URL is then redis://127.0.0.1:<port>). */
  tcp?: boolean;
}

export interface TestRedis {
  /** unix:///…/redis.sock, or redis://127.0.0.1:<port> with { tcp: true }. */
  url: string;
  port: number;
  /** The redis-server's pid while it runs. */
  pid: number | null;
  /** A plain client for assertions. */
  client: Redis;
  stop(): Promise<void>;
  /** Starts the server again on the same socket, port and data directory (if it is not running). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens on a unix socket in a fresh folder (no port to race for between
 * test files running in parallel), plus a free TCP port when asked.
 */
export async function startRedis({ appendonly = false, tcp = false }: RedisOptions = {}): Promise<TestRedis> {
  const port = tcp ? await freePort() : 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-redis-"));
  const socket = path.join(dir, "redis.sock");
  let proc: ChildProcess | null = null;
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--unixsocket",
    socket,
    "--unixsocketperm",
    "700",
    "--save",
    "",
    "--dir",
    dir,
    "--appendonly",
    appendonly ? "yes" : "no",
    "--appendfsync",
    "always",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ];
  const client = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on("error", () => {});

  const ping = async () => {
    if (!proc || proc.exitCode !== null) throw new Error("redis-server exited");
    return answers({ path: socket });
  };

  const handle: TestRedis = {
    url: tcp ? `redis://127.0.0.1:${port}` : `unix://${socket}`,
    port,
    get pid() {
      return proc?.pid ?? null;
    },
    client,
    async start() {
      if (proc && proc.exitCode === null) return;
      proc = spawn("redis-server", args, { stdio: "ignore" });
      await waitFor(ping, { timeout: 20_000, message: "redis-server to answer" });
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

/** A redis-server of the test file's own, started before its first test and stopped after its last. */
export function useRedis(test: TestFn, options: RedisOptions = {}): TestRedis {
  return fileScoped(
    test,
    "the file's redis-server",
    () => startRedis(options),
    (redis) => redis.close(),
  );
}

/** The keys every running instance writes on its own, whatever it is asked (its heartbeat and the queue's samples). */
const INSTANCE_KEYS = /:\{jobs\}:(?:beats|instances|queue-samples)$/;

/**
 * Every key under a prefix (tests only; never on a server they did not
 * start), but the instances' heartbeat keys unless `all` is set: those are
 * written every few seconds by a running server, asked or not.
 */
export async function keysUnder(client: Redis, prefix: string, { all = false } = {}): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return all ? keys : keys.filter((k) => !INSTANCE_KEYS.test(k));
}

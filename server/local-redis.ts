// The local default: with no Redis settings, `npm start` uses a redis-server
// of this checkout's own when nothing answers on the default address, so a
// newcomer needs nothing running. It is started from PATH under
// LOCAL_REDIS_DIR (./var/redis): listening only on a unix socket there
// (--port 0: never a network address), with appendonly on, detached (it
// outlives the server, as jobs do), and reused by the next start. `npm run
// redis:stop` stops it. With REDIS_URL set, nothing is ever started.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { ROOT } from "./paths.ts";

/** How long a probe of an address may take: a Redis that answers does so at once. */
const PROBE_MS = 700;
/** How long a started redis-server may take to answer on its socket. */
const START_DEADLINE_MS = 10_000;

export const INSTALL_HINT =
  "Install redis-server (Debian or Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_URL to an existing Redis server.";

export function localRedisFiles(dir: string) {
  return {
    socket: path.join(dir, "redis.sock"),
    pidFile: path.join(dir, "redis.pid"),
    logFile: path.join(dir, "redis.log"),
  };
}

/** Whether a Redis answers PING at this address, within a short deadline. */
export async function answers(target: { url: string } | { path: string }): Promise<boolean> {
  const options = {
    lazyConnect: true,
    connectTimeout: PROBE_MS,
    commandTimeout: PROBE_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  };
  const probe = "url" in target ? new Redis(target.url, options) : new Redis({ ...options, path: target.path });
  probe.on("error", () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export type LocalChoice = { url: string; note: string };

/**
 * The Redis to use when no address was configured: this checkout's own if it
 * runs, else the default address if something answers there, else a
 * redis-server started now. Throws with a message that says what to do.
 */
export async function chooseLocalRedis(defaultUrl: string, dir: string): Promise<LocalChoice> {
  const { socket, pidFile, logFile } = localRedisFiles(dir);
  // `npm run redis:stop` exists in a checkout; an installed package (no such script) says what the script does.
  const stop = fs.existsSync(path.join(ROOT, "scripts", "redis-stop.mjs"))
    ? "npm run redis:stop stops it"
    : `redis-cli -s ${socket} shutdown stops it`;
  if (await answers({ path: socket }))
    return { url: `unix://${socket}`, note: `reusing this checkout's redis-server on ${socket} (${stop})` };
  if (await answers({ url: defaultUrl })) return { url: defaultUrl, note: "" };

  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.rmSync(socket, { force: true });
  const args = [
    "--port",
    "0",
    "--unixsocket",
    socket,
    "--unixsocketperm",
    "700",
    "--dir",
    dir,
    "--appendonly",
    "yes",
    "--pidfile",
    pidFile,
    "--logfile",
    logFile,
    "--daemonize",
    "no",
  ];
  const child = spawn("redis-server", args, { detached: true, stdio: "ignore" });
  const spawned = await new Promise<Error | null>((resolve) => {
    child.once("spawn", () => resolve(null));
    child.once("error", resolve);
  });
  if (spawned) {
    throw new Error(
      (spawned as NodeJS.ErrnoException).code === "ENOENT"
        ? `Nothing answers at REDIS_URL's default ${defaultUrl}, and redis-server is not on PATH to start one for this checkout. ${INSTALL_HINT}`
        : `Could not start redis-server: ${spawned.message}. ${INSTALL_HINT}`,
    );
  }
  child.unref();
  const deadline = Date.now() + START_DEADLINE_MS;
  while (!(await answers({ path: socket }))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").trim().split("\n").slice(-3).join(" / ") : "";
      throw new Error(`redis-server did not start in ${dir}${log ? `: ${log}` : ""}. ${INSTALL_HINT}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `unix://${socket}`,
    note: `started a redis-server for this checkout: data in ${dir}, socket ${socket}, pid ${child.pid} (${stop})`,
  };
}

// The real server, `node build/server/main.js`, as its own process: for
// restarts, signals, several instances sharing one Redis, and the bench.
//   startServer(t, env)  in a test; killed, with its job processes, when the test ends
//   spawnServer(env)     without ava (the bench); call close() yourself
//   spawnNode(argv, env) any node program that says "listening on" (the bench's bare server)
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext } from "ava";
import { BUILD_DIR, ROOT } from "../../server/paths.ts";
import { redisEnv, uniquePrefix, type RedisSettings } from "./app.ts";
import { freePort } from "./ports.ts";
import { killProcessesIn } from "./procs.ts";
import { within } from "./wait.ts";

export const SERVER_MAIN = path.join(BUILD_DIR, "server", "main.js");
/** By absolute path: a test may give the server a PATH without it. */
const UNSHARE = ["/usr/bin/unshare", "/bin/unshare"].find((p) => fs.existsSync(p)) ?? "unshare";

/** The node flags `npm start` gives the server (package.json), so a test's server runs as deployed. */
export const SERVER_NODE_ARGS: readonly string[] = (() => {
  const start = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;
  return start.split(/\s+/).filter((arg) => arg.startsWith("--"));
})();

export interface ServerOptions {
  /** Resolve once the server says it listens (default), or at once (for servers that should refuse to start). */
  waitForListening?: boolean;
  /** Node flags before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Also append the server's output to this file. */
  logFile?: string;
  /** Its working directory (default: the project root). */
  cwd?: string;
  /**
   * In a network namespace of its own (`unshare -n`, root only), where
   * nothing listens, not even the Redis on 6379: "a machine with no Redis
   * running". Its HTTP port cannot be reached from the test; read its output.
   */
  isolatedNetwork?: boolean;
  /**
   * In a UTS namespace of its own (`unshare -u`, root only) with this host
   * name: "another host" that shares this one's network and files. Its job
   * processes inherit the name.
   */
  hostname?: string;
}

export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code and signal, once all the output has been read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL if it has not exited 5 s later; resolves once it has exited. */
  close(): Promise<void>;
}

/**
 * The settings several instances share: the file's Redis, a fresh prefix and
 * log folder, and whatever the test adds.
 */
export function serverEnv(redis: RedisSettings, name: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...redisEnv(redis),
    REDIS_PREFIX: uniquePrefix(name),
    JOB_LOG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-")),
    // These tests watch job processes from the outside: they read each job's pid and host from its JSON.
    SHOW_JOB_INTERNALS: "true",
    // Tests set the concurrency they need per type; the machine's CPUs (JOB_SLOTS' default) must not cap it.
    JOB_SLOTS: "64",
    // As in test/support/app.ts: a starved job must not lose its lease; tests of lost jobs set their beat.
    JOB_HEARTBEAT_MS: "5000",
    ...extra,
  };
}

export function spawnServer(env: Record<string, string>, { nodeArgs = [], ...options }: ServerOptions = {}): Promise<ServerProcess> {
  return spawnNode([...SERVER_NODE_ARGS, ...nodeArgs, SERVER_MAIN], env, options);
}

/**
 * Starts `node ...argv` with PORT (a free one unless env has it), HOST and
 * PATH in its environment, and waits until it writes "listening on".
 */
export async function spawnNode(
  argv: string[],
  env: Record<string, string>,
  { waitForListening = true, logFile, cwd = ROOT, isolatedNetwork = false, hostname }: Omit<ServerOptions, "nodeArgs"> = {},
): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  let out = "";
  const [command, args] = isolatedNetwork
    ? [UNSHARE, ["-n", "/bin/sh", "-c", '/usr/sbin/ip link set lo up && exec "$0" "$@"', process.execPath, ...argv]]
    : hostname
      ? [UNSHARE, ["-u", "/bin/sh", "-c", 'hostname "$0" && exec "$@"', hostname, process.execPath, ...argv]]
      : [process.execPath, argv];
  const proc = spawn(command, args, {
    cwd,
    // A busy machine can take seconds to connect a Cluster: the start's wait for Redis is set-up, not under test.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PORT: String(port), HOST: "127.0.0.1", REDIS_STARTUP_WAIT_MS: "15000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = logFile ? fs.createWriteStream(logFile, { flags: "a" }) : null;
  for (const stream of [proc.stdout, proc.stderr]) {
    stream.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      log?.write(chunk);
    });
  }
  // "close", not "exit": by then all it wrote has been read.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("close", (code, signal) => {
      log?.end();
      resolve({ code, signal });
    }),
  );
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const handle: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    output: () => out,
    exited,
    kill: (signal = "SIGTERM") => {
      if (running()) proc.kill(signal);
    },
    async close() {
      if (!running()) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (waitForListening) {
    const listening = new Promise<void>((resolve, reject) => {
      proc.stdout.on("data", () => {
        if (out.includes("listening on")) resolve();
      });
      void exited.then(() => reject(new Error(`the server exited before listening: ${out}`)));
    });
    try {
      // Generous: this is set-up, not a bound under test. A server's start is about 1.5 s of CPU (mostly
      // loading modules); on two cores at a load average near 20 one took 21 s, and three started at once
      // beside a full run went past 30 s without a line of output.
      await within(listening, 60_000, () => `the server to listen (output: ${out})`);
    } catch (err) {
      proc.kill("SIGKILL");
      throw err;
    }
  }
  return handle;
}

/** A server process for one test: killed when the test ends, with the job processes in its log folder. */
export async function startServer(t: ExecutionContext, env: Record<string, string>, options: ServerOptions = {}): Promise<ServerProcess> {
  const starting = spawnServer(env, options);
  // Registered before the start is awaited: a test that fails meanwhile (another server of a
  // Promise.all) still stops this one when it ends (one that fails to start is killed by spawnServer).
  t.teardown(async () => {
    const server = await starting.catch(() => null);
    if (server) {
      server.kill("SIGKILL");
      await server.exited;
    }
    if (env.JOB_LOG_DIR) {
      killProcessesIn(env.JOB_LOG_DIR);
      fs.rmSync(env.JOB_LOG_DIR, { recursive: true, force: true });
    }
  });
  return starting;
}

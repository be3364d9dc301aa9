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
import { uniquePrefix } from "./app.ts";
import { freePort } from "./ports.ts";
import { killProcessesIn } from "./procs.ts";
import { within } from "./wait.ts";

export const SERVER_MAIN = path.join(BUILD_DIR, "server", "main.js");

export interface ServerOptions {
  /** Resolve once the server says it listens (default), or at once (for servers that should refuse to start). */
  waitForListening?: boolean;
  /** Node flags before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Also append the server's output to this file. */
  logFile?: string;
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
export function serverEnv(redis: { url: string }, name: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: redis.url,
    REDIS_PREFIX: uniquePrefix(name),
    JOB_LOG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-")),
    // These tests watch job processes from the outside: they read each job's pid and host from its JSON.
    SHOW_JOB_INTERNALS: "true",
    ...extra,
  };
}

export function spawnServer(env: Record<string, string>, { nodeArgs = [], ...options }: ServerOptions = {}): Promise<ServerProcess> {
  return spawnNode([...nodeArgs, SERVER_MAIN], env, options);
}

/**
 * Starts `node ...argv` with PORT (a free one unless env has it), HOST and
 * PATH in its environment, and waits until it writes "listening on".
 */
export async function spawnNode(argv: string[], env: Record<string, string>, { waitForListening = true, logFile }: Omit<ServerOptions, "nodeArgs"> = {}): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  let out = "";
  const proc = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = logFile ? fs.createWriteStream(logFile, { flags: "a" }) : null;
  for (const stream of [proc.stdout!, proc.stderr!]) {
    stream.on("data", (chunk: Buffer) => {
      out += chunk;
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
      proc.stdout!.on("data", () => {
        if (out.includes("listening on")) resolve();
      });
      void exited.then(() => reject(new Error(`the server exited before listening: ${out}`)));
    });
    try {
      await within(listening, 10_000, () => `the server to listen (output: ${out})`);
    } catch (err) {
      proc.kill("SIGKILL");
      throw err;
    }
  }
  return handle;
}

/** A server process for one test: killed when the test ends, with the job processes in its log folder. */
export async function startServer(t: ExecutionContext, env: Record<string, string>, options: ServerOptions = {}): Promise<ServerProcess> {
  const server = await spawnServer(env, options);
  t.teardown(async () => {
    server.kill("SIGKILL");
    await server.exited;
    if (env.JOB_LOG_DIR) {
      killProcessesIn(env.JOB_LOG_DIR);
      fs.rmSync(env.JOB_LOG_DIR, { recursive: true, force: true });
    }
  });
  return server;
}

// The real server, `node build/server/main.js`, as its own process: for
// restarts, signals and several instances sharing one Redis.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { BUILD_DIR } from "../../server/paths.ts";
import { freePort } from "./redis.ts";
import { waitFor } from "./wait.ts";

export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export const SERVER_MAIN = path.join(BUILD_DIR, "server", "main.js");

export async function startServer(env: Record<string, string>, { waitForListening = true } = {}): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  let out = "";
  const proc = spawn(process.execPath, [SERVER_MAIN], {
    env: { PATH: process.env.PATH ?? "", PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const handle: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    output: () => out,
    exited,
    kill: (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  if (waitForListening) {
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`server exited: ${out}`);
      return out.includes("listening on");
    }, { timeout: 10_000, message: () => `the server to listen (output: ${out})` });
  }
  return handle;
}

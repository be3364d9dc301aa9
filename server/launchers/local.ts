// Starts one job script as its own detached OS process: an argv array, no
// shell, an explicit environment, and its output in a per-job log file (not
// a pipe into this server, so the job outlives a restart of the server).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export interface LaunchOptions {
  id: string;
  /** The job's attempt this process runs: its start is refused unless the job is on it. */
  attempt?: number;
  script: string;
  logDir: string;
  env: Record<string, string>;
  /** Node flags before the script; by default jobNodeArgs(script). */
  nodeArgs?: string[];
}

export interface Launched {
  child: ChildProcess;
  logFile: string;
}

export function logFileFor(logDir: string, id: string): string {
  return path.join(logDir, `${id}.log`);
}

/**
 * Node flags for a job script: its V8 startup snapshot when the build made one
 * for this node binary (build/jobs/<type>.<node version>.blob next to
 * build/jobs/<type>.js; see jobs/runtime/snapshot.ts), else none. The process then
 * still shows as `node --snapshot-blob <blob> <script> <id>`.
 */
export function jobNodeArgs(script: string): string[] {
  const blob = script.replace(/\.js$/, `.${process.version}.blob`);
  return blob !== script && fs.existsSync(blob) ? ["--snapshot-blob", blob] : [];
}

export function launch({ id, attempt, script, logDir, env, nodeArgs = jobNodeArgs(script) }: LaunchOptions): Launched {
  const logFile = logFileFor(logDir, id);
  const fd = fs.openSync(logFile, "a", 0o600);
  try {
    const child = spawn(process.execPath, [...nodeArgs, script, id, ...(attempt === undefined ? [] : [String(attempt)])], {
      detached: true, // its own process group: a cancel can signal the job and its children
      stdio: ["ignore", fd, fd],
      env,
      cwd: logDir,
    });
    child.unref();
    return { child, logFile };
  } finally {
    fs.closeSync(fd);
  }
}

/** The last lines of a log file (at most maxBytes from its end), for a failure's detail. */
export async function tail(file: string, lines = 20, maxBytes = 4096): Promise<string> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(file, "r");
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const text = buffer.toString("utf8").replace(/^[^\n]*\uFFFD[^\n]*\n/, "");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  } finally {
    await handle?.close();
  }
}

/** Sends a signal to a job's whole process group; false when it is already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

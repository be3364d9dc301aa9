// Helpers for bench/run.ts: processes (the app, a bare HTTP server), HTTP load,
// statistics, /proc readings. Nothing here touches a Redis it did not start.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import autocannon from "autocannon";
import { freePort } from "../test/helpers/redis.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { ROOT } from "../server/paths.ts";

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
export const median = (values: number[]) => quantile(values, 0.5);

export interface Proc {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

async function untilHttpAnswers(url: string, child: ChildProcess, log: string): Promise<void> {
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${fs.existsSync(log) ? fs.readFileSync(log, "utf8") : ""}`);
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.status < 500;
    },
    { timeout: 15_000, interval: 50, message: `${url} to answer` },
  );
}

/** The app as `npm start` runs it: node build/server/main.js, in its own process. */
export async function startApp(env: Record<string, string>, dir: string, name: string, nodeArgs: string[] = []): Promise<Proc> {
  const port = await freePort();
  const log = path.join(dir, `${name}.log`);
  const fd = fs.openSync(log, "a");
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, "build/server/main.js")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOST: "127.0.0.1", PORT: String(port), ...env },
    stdio: ["ignore", fd, fd],
  });
  fs.closeSync(fd);
  const url = `http://127.0.0.1:${port}`;
  await untilHttpAnswers(`${url}/healthz`, child, log);
  return { url, port, child, stop: () => stopChild(child) };
}

/** A bare node:http server in its own process that answers every request with `size` bytes of HTML. */
export async function startBare(size: number, dir: string): Promise<Proc> {
  const port = await freePort();
  const code = `
    const body = Buffer.from("<p>" + "x".repeat(Math.max(0, ${size} - 7)) + "</p>");
    require("node:http").createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": body.length });
      res.end(body);
    }).listen(${port}, "127.0.0.1");`;
  const log = path.join(dir, "bare.log");
  const fd = fs.openSync(log, "a");
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  const url = `http://127.0.0.1:${port}`;
  await untilHttpAnswers(url, child, log);
  return { url, port, child, stop: () => stopChild(child) };
}

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** CPU the server process spent per request (us), when its pid was given. */
  cpuUsPerRequest: number;
}

/** autocannon against a list of paths (each connection cycles through them). */
export async function load(url: string, paths: string[], { connections, seconds, pid }: { connections: number; seconds: number; pid?: number }): Promise<Load> {
  const cpuBefore = pid ? cpuMsOf(pid) : 0;
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: paths.map((p) => ({ method: "GET", path: p })),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    cpuUsPerRequest: pid ? ((cpuMsOf(pid) - cpuBefore) * 1000) / (result.requests.total || 1) : NaN,
  };
}

/** PSS and RSS in kB of one process, from /proc/<pid>/smaps_rollup. */
export function memoryOf(pid: number): { pssKb: number; rssKb: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
    return { pssKb: field("Pss"), rssKb: field("Rss") };
  } catch {
    return null;
  }
}

/** CPU time (ms, user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
}

/** CPU time (ms) of this process' reaped children, from /proc/self/stat (cutime + cstime). */
export function childrenCpuMs(): number {
  const stat = fs.readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command: field 3 is state, so cutime (16) and cstime (17) are at 13 and 14.
  const ticks = Number(fields[13]) + Number(fields[14]);
  return (ticks * 1000) / clockTicks();
}

let ticksPerSecond: number | null = null;
function clockTicks(): number {
  // getconf CLK_TCK; 100 on every Linux this runs on, but ask once to be sure.
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Kills every process whose working directory is under dir (job processes run in their log folder). */
export function killProcessesIn(dir: string): number {
  let killed = 0;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) {
        process.kill(pid, "SIGKILL");
        killed += 1;
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}

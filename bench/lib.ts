// The bench's own measuring: a bare HTTP server to compare against, HTTP load
// (wrk when the machine has it, else autocannon), statistics. Processes, Redis
// and /proc readings come from test/support, as for the tests. Nothing here
// touches a Redis it did not start.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { childrenCpuMs, cpuMsOf } from "../test/support/procs.ts";
import { spawnNode, type ServerProcess } from "../test/support/server.ts";
import { getWith } from "../test/support/http.ts";

export { median, quantile } from "../test/support/stats.ts";

/** One figure of the bench's table: a measure, the reference measured in the same run, and its budget. */
export interface Row {
  id: string;
  measure: string;
  value: number;
  unit: string;
  reference?: { label: string; value: number; unit: string };
  ratio?: number;
  budget?: string;
  met?: boolean;
  note?: string;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A bare node:http server in its own process that answers every request with `size` bytes of HTML. */
export function startBare(size: number, logFile: string): Promise<ServerProcess> {
  const code = `
    const body = Buffer.from("<p>" + "x".repeat(Math.max(0, ${size} - 7)) + "</p>");
    require("node:http").createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": body.length });
      res.end(body);
    }).listen(Number(process.env.PORT), process.env.HOST, () => console.log("listening on " + process.env.PORT));`;
  return spawnNode(["-e", code], {}, { logFile });
}

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** CPU the server process spent per request (us), when its pid was given. */
  cpuUsPerRequest: number;
  /** CPU the load generator spent per request (us): below the server's, the client is not what limits the throughput. */
  clientCpuUsPerRequest: number;
  /** Which load generator made the requests. */
  client: LoadClient;
}

export type LoadClient = "wrk" | "autocannon";

/**
 * The load generator: wrk (C, its own process, about a fifth of the CPU per
 * request of a Node server on this VM) when the machine has it, else
 * autocannon, which runs in this process and spends about as much CPU per
 * request as the bare server it loads (bench/README.md): with it, a fast
 * server's throughput is the client's. `--client=autocannon` picks autocannon.
 */
export const WRK: string | null = process.argv.includes("--client=autocannon")
  ? null
  : (["/usr/bin/wrk", "/usr/local/bin/wrk"].find((f) => fs.existsSync(f)) ?? null);
export const LOAD_CLIENT: LoadClient = WRK ? "wrk" : "autocannon";

/** Load against a list of paths (each connection cycles through them): wrk if there is one, else autocannon. */
export function load(url: string, paths: string[], options: { connections: number; seconds: number; pid?: number }): Promise<Load> {
  return WRK ? wrkLoad(WRK, url, paths, options) : autocannonLoad(url, paths, options);
}

async function autocannonLoad(
  url: string,
  paths: string[],
  { connections, seconds, pid }: { connections: number; seconds: number; pid?: number },
): Promise<Load> {
  const cpuBefore = pid ? cpuMsOf(pid) : 0;
  const clientBefore = cpuMsOf(process.pid);
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: paths.map((p) => ({ method: "GET", path: p })),
  });
  const total = result.requests.total || 1;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    cpuUsPerRequest: pid ? ((cpuMsOf(pid) - cpuBefore) * 1000) / total : NaN,
    // This whole process: autocannon runs in it (nothing else is busy while it loads).
    clientCpuUsPerRequest: ((cpuMsOf(process.pid) - clientBefore) * 1000) / total,
    client: "autocannon",
  };
}

/** wrk, one thread per CPU, a Lua script that cycles through the paths and prints its summary as JSON. */
async function wrkLoad(
  wrk: string,
  url: string,
  paths: string[],
  { connections, seconds, pid }: { connections: number; seconds: number; pid?: number },
): Promise<Load> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-wrk-"));
  const script = path.join(dir, "paths.lua");
  fs.writeFileSync(
    script,
    `local paths = {${paths.map((p) => JSON.stringify(p)).join(", ")}}
local requests, i = {}, 0
function setup(thread) thread:set("offset", tostring(math.random(#paths))) end
function init(args)
  for k, p in ipairs(paths) do requests[k] = wrk.format("GET", p) end
  i = tonumber(offset) or 0
end
function request()
  i = i % #requests + 1
  return requests[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"us":%d,"p50":%d,"p99":%d,"errors":%d,"status":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`,
  );
  const threads = Math.max(1, Math.min(os.availableParallelism(), connections));
  const cpuBefore = pid ? cpuMsOf(pid) : 0;
  const clientBefore = childrenCpuMs();
  try {
    const child = spawn(
      wrk,
      ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "5s", "-s", script, url],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    const line = /^WRK (\{.*\})$/m.exec(out)?.[1];
    if (code !== 0 || !line) throw new Error(`wrk exited ${code}: ${out.trim().slice(0, 500)}`);
    const r = JSON.parse(line) as { requests: number; us: number; p50: number; p99: number; errors: number; status: number };
    const total = r.requests || 1;
    return {
      rps: r.requests / (r.us / 1e6),
      p50: r.p50 / 1000,
      p99: r.p99 / 1000,
      errors: r.errors,
      non2xx: r.status,
      cpuUsPerRequest: pid ? ((cpuMsOf(pid) - cpuBefore) * 1000) / total : NaN,
      clientCpuUsPerRequest: ((childrenCpuMs() - clientBefore) * 1000) / total,
      client: "wrk",
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** GETs every URL once, `concurrency` at a time on keep-alive connections; returns the statuses in order. */
export async function getAll(urls: string[], concurrency: number, headers: Record<string, string> = {}): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: number[] = new Array<number>(urls.length);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < urls.length) {
          const i = next++;
          statuses[i] = (await getWith(agent, urls[i]!, headers)).status;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return statuses;
}

// The bench's own measuring: a bare HTTP server to compare against, HTTP load
// (autocannon), statistics. Processes, Redis and /proc readings come from
// test/support, as for the tests. Nothing here touches a Redis it did not start.
import http from "node:http";
import autocannon from "autocannon";
import { cpuMsOf } from "../test/support/procs.ts";
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
}

/** autocannon against a list of paths (each connection cycles through them). */
export async function load(
  url: string,
  paths: string[],
  { connections, seconds, pid }: { connections: number; seconds: number; pid?: number },
): Promise<Load> {
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

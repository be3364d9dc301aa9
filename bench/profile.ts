// Where a status poll's time goes: node --import=tsx bench/profile.ts [seconds]
//
// Starts a private redis-server and the app under --cpu-prof with 20 running
// jobs, polls their status fragments with 50 connections, then prints the CPU
// each process used per request and the hottest functions of the server
// (self time, and self time grouped by package). The profile itself is kept
// in bench/results/ for Chrome DevTools.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { submit } from "../test/support/http.ts";
import { cpuMsOf, killProcessesIn } from "../test/support/procs.ts";
import { startRedis } from "../test/support/redis.ts";
import { spawnServer, type ServerProcess } from "../test/support/server.ts";
import { ROOT } from "../server/paths.ts";
import { load, sleep } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 5);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-profile-"));
const logDir = path.join(dir, "logs");
fs.mkdirSync(logDir);
const redis = await startRedis({ tcp: true });
let app: ServerProcess | null = null;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

function summarise(file: string): void {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const busy = [...self].filter(([id]) => nodes.get(id)!.callFrame.functionName !== "(idle)").reduce((s, [, t]) => s + t, 0);
  const where = (n: ProfileNode) => {
    const url = n.callFrame.url;
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    return pkg ?? (url.startsWith("node:") ? url : url.includes("/build/server/") ? "app" : url ? path.basename(url) : "(native)");
  };
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const [id, t] of self) {
    const n = nodes.get(id)!;
    if (n.callFrame.functionName === "(idle)") continue;
    const name = `${n.callFrame.functionName || "(anonymous)"} (${where(n)}:${n.callFrame.lineNumber + 1})`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + t);
    byPackage.set(where(n), (byPackage.get(where(n)) ?? 0) + t);
  }
  const top = (m: Map<string, number>, count: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([k, t]) => `  ${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k}`)
      .join("\n");
  process.stdout.write(
    `\nServer busy time (start-up included), self time by package:\n${top(byPackage, 12)}\n\nby function:\n${top(byFunction, 25)}\n`,
  );
}

try {
  app = await spawnServer(
    {
      REDIS_URL: redis.url,
      REDIS_PREFIX: "profile",
      JOB_MAX_QUEUED_PER_SUBMITTER: "0",
      JOB_LOG_DIR: logDir,
      NODE_ENV: "production",
      COUNT_STEP_DELAY_MS: "3600000",
      JOB_CONCURRENCY_COUNT: "20",
      JOB_SLOTS: "20",
    },
    { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`], logFile: path.join(dir, "app.log") },
  );
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push(await submit(app.url, { start: "1", end: "1000", increment: "1" }, { json: true }));
  await sleep(2000);
  const redisPid = redis.pid!;
  const before = { app: cpuMsOf(app.proc.pid!), redis: cpuMsOf(redisPid) };
  const result = await load(
    app.url,
    ids.map((id) => `/jobs/${id}/status?shown=running`),
    { connections: 50, seconds },
  );
  const requests = result.rps * seconds;
  const per = (ms: number) => ((ms * 1000) / requests).toFixed(1);
  process.stdout.write(
    `${Math.round(result.rps)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms; CPU per request: ` +
      `server ${per(cpuMsOf(app.proc.pid!) - before.app)} us, redis-server ${per(cpuMsOf(redisPid) - before.redis)} us, ` +
      `${result.client} ${result.clientCpuUsPerRequest.toFixed(1)} us\n`,
  );
  await app.close();
  const file = fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (file) {
    const out = path.join(ROOT, "bench", "results");
    fs.mkdirSync(out, { recursive: true });
    fs.copyFileSync(path.join(dir, file), path.join(out, "status-poll.cpuprofile"));
    summarise(path.join(dir, file));
    process.stdout.write(`\nprofile: bench/results/status-poll.cpuprofile\n`);
  }
} finally {
  await app?.close();
  killProcessesIn(dir);
  await redis.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

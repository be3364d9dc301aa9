// Measures how fast a killed job is recorded `failed`:
//   - with its server alive (the server sees the process exit);
//   - with its server gone (another instance finds the expired lease).
// Usage: node --import=tsx bench/faults.ts [runs=20]
// Starts its own redis-server and real server processes; prints a table and
// writes bench/results/faults.json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startRedis } from "../test/helpers/redis.ts";
import { startServer, type ServerProcess } from "../test/helpers/server.ts";
import { uniquePrefix } from "../test/helpers/app.ts";
import { waitFor } from "../test/helpers/wait.ts";

const runs = Number(process.argv[2] ?? 20);
const redis = await startRedis();
const servers: ServerProcess[] = [];

const env = (name: string) => ({
  REDIS_URL: redis.url,
  REDIS_PREFIX: uniquePrefix(name),
  JOB_LOG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-logs-")),
  COUNT_STEP_DELAY_MS: "100",
});

async function submit(s: ServerProcess): Promise<string> {
  const res = await fetch(`${s.url}/count`, { method: "POST", redirect: "manual", body: new URLSearchParams({ start: "1", end: "1000", increment: "1" }) });
  return res.headers.get("location")!.split("/").pop()!;
}
async function read(s: ServerProcess, id: string): Promise<{ state: string; pid: number; finishedAt: string | null; signal: string | null; error: string | null }> {
  return (await fetch(`${s.url}/jobs/${id}`, { headers: { Accept: "application/json" } })).json() as never;
}

/** Kills the job's process and returns ms until its record says failed. */
async function killAndTime(observer: ServerProcess, id: string, pid: number): Promise<number> {
  const killed = Date.now();
  process.kill(pid, "SIGKILL");
  await waitFor(async () => (await read(observer, id)).state === "failed", { timeout: 20_000, interval: 10 });
  return Date.now() - killed;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]!, min: s[0]! };
};

const alive: number[] = [];
{
  const s = await startServer(env("alive"));
  servers.push(s);
  for (let i = 0; i < runs; i++) {
    const id = await submit(s);
    const job = await waitFor(async () => {
      const j = await read(s, id);
      return j.state === "running" ? j : null;
    });
    alive.push(await killAndTime(s, id, job.pid));
  }
  s.kill();
}

const gone: number[] = [];
{
  const e = env("gone");
  const observer = await startServer(e);
  servers.push(observer);
  for (let i = 0; i < runs; i++) {
    const spawner = await startServer(e);
    const id = await submit(spawner);
    const job = await waitFor(async () => {
      const j = await read(observer, id);
      return j.state === "running" ? j : null;
    });
    spawner.kill("SIGKILL");
    await spawner.exited;
    gone.push(await killAndTime(observer, id, job.pid));
  }
  observer.kill();
}

const table = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  runs,
  serverAlive: stats(alive),
  serverGone: stats(gone),
};
console.log(`SIGKILL of a job -> recorded failed, ${runs} runs each (${table.machine})`);
console.log(`  server alive: median ${table.serverAlive.median} ms, max ${table.serverAlive.max} ms (budget 1000 ms)`);
console.log(`  server gone:  median ${table.serverGone.median} ms, max ${table.serverGone.max} ms (budget 10000 ms)`);
fs.mkdirSync("bench/results", { recursive: true });
fs.writeFileSync("bench/results/faults.json", JSON.stringify(table, null, 2) + "\n");
for (const s of servers) s.kill("SIGKILL");
await redis.close();
process.exit(0);

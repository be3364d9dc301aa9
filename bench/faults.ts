// Measures how fast a killed job is noticed:
//   - with its server alive (the server sees the process exit): the job is
//     recorded `failed` (signal; not retried by default);
//   - a host's death: its server and the job's process group SIGKILLed at
//     once while another instance runs. From the kill until the job is
//     recorded lost and queued again (its record read straight from Redis,
//     so no read of the job's page can notice it first: the other instance's
//     sweep does), and until its next attempt runs, under that instance.
// Usage: node --import=tsx bench/faults.ts [runs=20]
// Starts its own redis-server and real server processes; prints a table and
// writes bench/results/faults.json.
import fs from "node:fs";
import os from "node:os";
import { Redis } from "ioredis";
import { JOB_DEFAULTS } from "../jobs/core/settings.ts";
import { JobStore } from "../jobs/core/store.ts";
import { LONG_COUNT, jobJson, submit, waitForState } from "../test/support/http.ts";
import { killProcessesIn } from "../test/support/procs.ts";
import { startRedis } from "../test/support/redis.ts";
import { serverEnv, spawnServer, type ServerProcess } from "../test/support/server.ts";
import { waitFor } from "../test/support/wait.ts";

const runs = Number(process.argv[2] ?? 20);
const redis = await startRedis();
const servers: ServerProcess[] = [];
const logDirs: string[] = [];

function env(name: string): Record<string, string> {
  // The product's default heartbeat (1 s), which the detection time depends on: the tests' helper sets a
  // slower one of its own for busy machines.
  const e = serverEnv(redis, name, { COUNT_STEP_DELAY_MS: "100", JOB_HEARTBEAT_MS: String(JOB_DEFAULTS.JOB_HEARTBEAT_MS) });
  logDirs.push(e.JOB_LOG_DIR!);
  return e;
}

async function server(e: Record<string, string>): Promise<ServerProcess> {
  const s = await spawnServer(e);
  servers.push(s);
  return s;
}

/** Kills the job's process and returns ms until its record says failed (the server sees the exit). */
async function killAndTime(observer: ServerProcess, id: string, pid: number): Promise<number> {
  const killed = Date.now();
  process.kill(pid, "SIGKILL");
  await waitFor(async () => (await jobJson(observer.url, id)).state === "failed", { timeout: 20_000, interval: 10 });
  return Date.now() - killed;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]!, min: s[0]! };
};

const alive: number[] = [];
{
  const s = await server(env("alive"));
  for (let i = 0; i < runs; i++) {
    const id = await submit(s.url, LONG_COUNT);
    const job = await waitForState(s.url, id, "running");
    alive.push(await killAndTime(s, id, job.pid!));
  }
  await s.close();
}

const detected: number[] = [];
const runsAgain: number[] = [];
{
  const e = env("gone");
  const client = new Redis(redis.url);
  const store = new JobStore(client, { prefix: e.REDIS_PREFIX!, ttlSucceededS: 60, ttlFailedS: 60 });
  const fields = (id: string) => client.hmget(store.jobKeys(id)[0], "state", "attempt", "pid");
  for (let i = 0; i < runs; i++) {
    const spawner = await server(e);
    const id = await submit(spawner.url, LONG_COUNT);
    const job = await waitForState(spawner.url, id, "running");
    // The observer starts only once the job runs under the spawner: it cannot
    // have claimed the job, so it can only learn of the death from the lease.
    const observer = await server(e);
    await waitForState(observer.url, id, "running");
    const killed = Date.now();
    spawner.kill("SIGKILL");
    process.kill(-job.pid!, "SIGKILL");
    await waitFor(async () => Number((await fields(id))[1]) >= 2, { timeout: 20_000, interval: 5 });
    detected.push(Date.now() - killed);
    await waitFor(
      async () => {
        const [state, , pid] = await fields(id);
        return state === "running" && Number(pid) !== job.pid;
      },
      { timeout: 20_000, interval: 5 },
    );
    runsAgain.push(Date.now() - killed);
    await spawner.exited;
    await observer.close();
    killProcessesIn(e.JOB_LOG_DIR!);
  }
  client.disconnect();
}

const table = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  runs,
  serverAlive: stats(alive),
  hostDeathDetected: stats(detected),
  hostDeathRunsAgain: stats(runsAgain),
};
console.log(`SIGKILL of a job, ${runs} runs each (${table.machine})`);
console.log(
  `  server alive, -> recorded failed:            median ${table.serverAlive.median} ms, max ${table.serverAlive.max} ms (budget 1000 ms)`,
);
console.log(
  `  host dead, -> recorded lost and queued again: median ${table.hostDeathDetected.median} ms, max ${table.hostDeathDetected.max} ms (budget: median 3000 ms)`,
);
console.log(
  `  host dead, -> running again on the other:   median ${table.hostDeathRunsAgain.median} ms, max ${table.hostDeathRunsAgain.max} ms`,
);
fs.mkdirSync("bench/results", { recursive: true });
fs.writeFileSync("bench/results/faults.json", JSON.stringify(table, null, 2) + "\n");
for (const s of servers) s.kill("SIGKILL");
for (const dir of logDirs) {
  killProcessesIn(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}
await redis.close();
process.exit(0);

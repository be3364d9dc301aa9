// npm run bench [-- --quick] [-- --only=runner] [-- --only=csv] [-- --only=slurm]
// (--only=runner: only the start-up cost of a command job, 4b;
// --only=csv: only the CSV check of a generated file, 5.)
//
// Starts a private redis-server and the app as real processes (node
// build/server/main.js), measures, prints one table and writes it to
// bench/results/latest.json. Every figure stands next to a reference measured
// in the same run, because this machine is shared and noisy: budgets are
// ratios, or absolute figures that do not depend much on load.
// Missed budgets are reported, not failures: the exit code is 0 whenever the
// measurements ran.
import { spawn } from "node:child_process";
import { setTimeout as delay } from "node:timers/promises";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { submit as submitForm } from "../test/support/http.ts";
import { churn } from "../test/support/churn.ts";
import { childrenCpuMs, childrenOf, cpuMsOf, killProcessesIn, memoryOf } from "../test/support/procs.ts";
import { startRedis, type TestRedis } from "../test/support/redis.ts";
import { spawnServer, type ServerProcess } from "../test/support/server.ts";
import { waitFor } from "../test/support/wait.ts";
import { jobEnvironment, loadConfig } from "../server/config.ts";
import { jobNodeArgs, launch } from "../server/launchers/local.ts";
import { jobScript, ROOT } from "../server/paths.ts";
import { count } from "../jobs/types/count.ts";
import { primes } from "../jobs/types/primes.ts";
import { csvCheck } from "../jobs/types/csv-check.ts";
import { commandLine, programEnvironment } from "../jobs/runtime/command-line.ts";
import { jobTypesDir } from "../jobs/core/paths.ts";
import { BOX_ENV, describeHost, probeHost, type HostBox } from "../jobs/core/host-box.ts";
import { isTerminal, JobStore, newJobId, type JobState } from "../jobs/core/store.ts";
import { getAll, load, LOAD_CLIENT, median, quantile, sleep, startBare, type Load, type Row } from "./lib.ts";
import { scaling } from "./scaling.ts";
import { filesPhase } from "./files.ts";
import { slurmPhase } from "./slurm.ts";

const quick = process.argv.includes("--quick");
const runnerOnly = process.argv.includes("--only=runner");
const csvOnly = process.argv.includes("--only=csv");
const filesOnly = process.argv.includes("--only=files");
const slurmOnly = process.argv.includes("--only=slurm");
const flags = [
  quick ? "--quick" : "",
  runnerOnly ? "--only=runner" : "",
  csvOnly ? "--only=csv" : "",
  filesOnly ? "--only=files" : "",
  slurmOnly ? "--only=slurm" : "",
].filter(Boolean);
const command = `npm run bench${flags.length > 0 ? ` -- ${flags.join(" ")}` : ""}`;
// The quick mode runs every phase and path once, on small numbers: it keeps the
// bench working (CI runs it), its figures are not meant to be read.
const P = quick
  ? {
      seconds: 1,
      pairs: 1,
      submits: 20,
      ttr: 3,
      cpuRuns: 2,
      burst: 40,
      growth: 2_000,
      pageRequests: 20,
      running: 5,
      runnerStarts: 2,
      csvMiB: [1, 2],
      csvPairs: 1,
      redisWindowS: 1,
      distinct: 1_000,
    }
  : {
      seconds: 10,
      pairs: 5,
      submits: 200,
      ttr: 30,
      cpuRuns: 10,
      burst: 200,
      growth: 100_000,
      pageRequests: 200,
      running: 20,
      runnerStarts: 20,
      csvMiB: [10, 50],
      csvPairs: 3,
      redisWindowS: 10,
      distinct: 10_000,
    };
const CONNECTIONS = 50;
const BASELINE_FINISHED = 100;

const rows: Row[] = [];
const extra: Record<string, unknown> = {};
const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-bench-"));
const procs: ServerProcess[] = [];
let redis: TestRedis | null = null;
let client: Redis | null = null;

async function cleanup(): Promise<void> {
  killProcessesIn(tmp);
  for (const p of procs) await p.close().catch(() => {});
  killProcessesIn(tmp);
  client?.disconnect();
  await redis?.close().catch(() => {});
  if (process.env.BENCH_KEEP) log(`kept ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------- helpers

function appEnv(prefix: string, extraEnv: Record<string, string>): Record<string, string> {
  const logDir = path.join(tmp, prefix);
  fs.mkdirSync(logDir, { recursive: true });
  // JOB_SLOTS: the bench sets each type's concurrency; the host's CPUs (the default cap) must not lower it.
  // JOB_MAX_QUEUED_PER_SUBMITTER: the load generator is one client address that queues thousands.
  return {
    REDIS_URL: redis!.url,
    REDIS_PREFIX: prefix,
    JOB_LOG_DIR: logDir,
    NODE_ENV: "production",
    JOB_SLOTS: "1024",
    JOB_MAX_QUEUED_PER_SUBMITTER: "0",
    ...extraEnv,
  };
}

function storeFor(prefix: string): JobStore {
  return new JobStore(client!, { prefix, ttlSucceededS: 86_400, ttlFailedS: 604_800 });
}

/** The app as `npm start` runs it, its output in the temp folder. */
function appProcess(env: Record<string, string>, name: string): Promise<ServerProcess> {
  return spawnServer(env, { logFile: path.join(tmp, `${name}.log`) });
}

/** A count of 1..end, sent as a JSON client sends it. */
function submit(app: ServerProcess, end = 5): Promise<string> {
  return submitForm(app.url, { start: "1", end: String(end), increment: "1" }, { json: true });
}

async function fields(store: JobStore, ids: string[], names: string[]): Promise<(string | null)[][]> {
  const pipeline = client!.pipeline();
  for (const id of ids) pipeline.hmget(store.jobKeys(id)[0], ...names);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([err, value]) => {
    if (err) throw err;
    return value as (string | null)[];
  });
}

async function untilAll(
  store: JobStore,
  ids: string[],
  done: (state: string | null, doneCount: number) => boolean,
  timeout: number,
  what: string,
) {
  await waitFor(async () => (await fields(store, ids, ["state", "done"])).every(([state, d]) => done(state ?? null, Number(d ?? 0))), {
    timeout,
    interval: 20,
    message: what,
  });
}

const terminal = (state: string | null) => state !== null && isTerminal(state as JobState);

/**
 * Finished 1..10 counts written through the store's own scripts: create,
 * claim, start, report, finish, and the take of each end's report, as the
 * server that saw the end takes it: a job kept after its end, not one whose
 * end still waits for a server (which every instance's sweep would then
 * take, 100 at a time, while the figures that need a quiet server ran).
 */
async function fillFinished(store: JobStore, count: number): Promise<string[]> {
  const ids: string[] = [];
  const host = os.hostname();
  const values = Array.from({ length: 10 }, (_, i) => i + 1);
  const batch = 500;
  for (let made = 0; made < count; made += batch) {
    const n = Math.min(batch, count - made);
    const created = await Promise.all(
      Array.from({ length: n }, () =>
        store.create({ type: "count", params: { start: 1, end: 10, increment: 1 }, total: 10, queueMax: 1e9 }),
      ),
    );
    const claimed = await Promise.all(created.map(() => store.claim("bench-fill", 600_000, ["count"], ["count"])));
    const mine = claimed.flatMap((c) => (c ? [c.id] : []));
    await Promise.all(mine.map((id) => store.start(id, process.pid, host, 600_000)));
    await Promise.all(mine.map((id) => store.report(id, 600_000, { done: 10, results: values })));
    await Promise.all(mine.map((id) => store.finish(id, "succeeded", "job")));
    await Promise.all(mine.map((id) => store.takeReport(id, "bench-fill")));
    ids.push(...mine);
  }
  return ids;
}

async function usedMemory(): Promise<number> {
  const info = await client!.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

/** Alternating app/bare pairs; the ratio of each pair, and their median. */
async function fragmentVsBare(app: ServerProcess, bare: ServerProcess, paths: string[]) {
  const pairs: { app: Load; bare: Load; ratio: number }[] = [];
  const appLoad = () => load(app.url, paths, { connections: CONNECTIONS, seconds: P.seconds, pid: app.proc.pid });
  const bareLoad = () => load(bare.url, ["/"], { connections: CONNECTIONS, seconds: P.seconds, pid: bare.proc.pid });
  for (let i = 0; i < P.pairs; i++) {
    // In turns, each first every other pair: a drift of the machine's load weighs on both alike.
    let a: Load, b: Load;
    if (i % 2 === 0) {
      a = await appLoad();
      b = await bareLoad();
    } else {
      b = await bareLoad();
      a = await appLoad();
    }
    // A few timeouts on an overloaded machine are reported; mostly wrong answers mean the figure is meaningless.
    if (a.non2xx + a.errors > 0.1 * a.rps * P.seconds) throw new Error(`status polls failed: ${a.errors} errors, ${a.non2xx} non-2xx`);
    pairs.push({ app: a, bare: b, ratio: a.rps / b.rps });
  }
  return {
    pairs,
    ratio: median(pairs.map((p) => p.ratio)),
    appRps: median(pairs.map((p) => p.app.rps)),
    bareRps: median(pairs.map((p) => p.bare.rps)),
    appP99: median(pairs.map((p) => p.app.p99)),
    failed: pairs.reduce((sum, p) => sum + p.app.errors + p.app.non2xx, 0),
    // Less sensitive to other load on the machine than req/s: CPU per request of each server.
    appCpuUs: median(pairs.map((p) => p.app.cpuUsPerRequest)),
    bareCpuUs: median(pairs.map((p) => p.bare.cpuUsPerRequest)),
    // The load generator's CPU per request, against the bare server (the faster of the two it loads).
    clientCpuUs: median(pairs.map((p) => p.bare.clientCpuUsPerRequest)),
  };
}

/** The median over pairs of the app's CPU per request divided by the bare server's in the same pair. */
function cpuOverBare(f: { pairs: { app: Load; bare: Load }[] }): number {
  return median(f.pairs.map((p) => p.app.cpuUsPerRequest / p.bare.cpuUsPerRequest));
}

/** Which load generator, and its CPU per request against the servers': below theirs, the client is not the limit. */
function clientNote(f: { clientCpuUs: number; appCpuUs: number; bareCpuUs: number }): string {
  const faster = f.clientCpuUs < f.bareCpuUs;
  return (
    `load from ${LOAD_CLIENT}${LOAD_CLIENT === "autocannon" ? " (wrk not found: the bare server's figure may be the client's)" : ""}, ` +
    `${f.clientCpuUs.toFixed(1)} us of client CPU per request (${faster ? "less than" : "NOT less than"} the bare server's ${f.bareCpuUs.toFixed(1)} us)`
  );
}

/** The operator's login of the bench's apps (ADMIN_ENV). */
const ADMIN_ENV = { ADMIN_PASSWORD: "bench operator password", SESSION_SECRET: "bench-session-secret-".padEnd(48, "x") };

async function adminCookie(app: ServerProcess): Promise<string> {
  const res = await fetch(`${app.url}/admin/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ password: ADMIN_ENV.ADMIN_PASSWORD }).toString(),
  });
  if (res.status !== 303) throw new Error(`admin login answered ${res.status}`);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
}

/** One admin address, one request at a time: latency, and the server's CPU per request. */
async function adminLatency(app: ServerProcess, pathname: string, headers: Record<string, string>, n: number) {
  const times: number[] = [];
  const cpu0 = cpuMsOf(app.proc.pid!);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(`${app.url}${pathname}`, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${pathname} answered ${res.status}`);
    times.push(performance.now() - t0);
  }
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), cpuMsPerRequest: (cpuMsOf(app.proc.pid!) - cpu0) / n };
}

async function pageLatency(app: ServerProcess, id: string, n: number) {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(`${app.url}/jobs/${id}`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET /jobs/${id} answered ${res.status}`);
    times.push(performance.now() - t0);
  }
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

// ---------------------------------------------------------------- phases

/** 1, 4 (memory) and 6: an app whose 20 jobs stay running (one value, then a long sleep). */
async function runningJobsPhase(): Promise<void> {
  const prefix = "bench-long";
  const app = await appProcess(
    appEnv(prefix, { COUNT_STEP_DELAY_MS: "3600000", JOB_CONCURRENCY_COUNT: String(P.running), ...ADMIN_ENV }),
    "app-long",
  );
  procs.push(app);
  const store = storeFor(prefix);
  const ids: string[] = [];
  for (let i = 0; i < P.running; i++) ids.push(await submit(app, 1000));
  await untilAll(store, ids, (state, done) => state === "running" && done >= 1, 60_000, `${P.running} jobs running`);

  // 4b. Memory per running job (each has reported once and sleeps).
  await sleep(500);
  const pids = (await fields(store, ids, ["pid"])).map(([pid]) => Number(pid));
  const mems = pids.map(memoryOf).filter((m) => m !== null);
  if (mems.length !== pids.length) throw new Error("could not read the memory of every job process");
  const pss = mems.reduce((s, m) => s + m.pssKb, 0) / mems.length / 1024;
  const rss = mems.reduce((s, m) => s + m.rssKb, 0) / mems.length / 1024;
  const serverMem = memoryOf(app.proc.pid!);
  // The job's own pages (no other process shares them), and the startup snapshot node read into memory (its size).
  const privateMiB = median(pids.map((pid) => privateDirtyKb(pid))) / 1024;
  const blob = jobNodeArgs(jobScript(count))[1];
  const blobMiB = blob ? fs.statSync(blob).size / 2 ** 20 : 0;
  rows.push({
    id: "pss-per-job",
    measure: `PSS per running job (${P.running} running)`,
    value: pss,
    unit: "MiB",
    budget: "<= 12 MiB",
    met: pss <= 12,
    note: `private dirty pages per job: median ${privateMiB.toFixed(1)} MiB, of which about ${blobMiB.toFixed(1)} MiB is its startup snapshot as node read it (the blob's size; read, not mapped, so not shared)`,
  });
  rows.push({
    id: "rss-per-job",
    measure: `RSS per running job (${P.running} running)`,
    value: rss,
    unit: "MiB",
    note: "shared pages counted in every process",
  });
  extra.serverRssMiB = serverMem ? serverMem.rssKb / 1024 : null;
  extra.serverPssMiB = serverMem ? serverMem.pssKb / 1024 : null;

  // 1. Status fragment throughput over the running jobs, against a bare server of the same body size.
  const baseline = await fillFinished(store, BASELINE_FINISHED);
  const paths = ids.map((id) => `/jobs/${id}/status?shown=running`);
  const sample = await fetch(app.url + paths[0]);
  const size = Buffer.byteLength(await sample.text());
  if (sample.status !== 200) throw new Error(`status fragment answered ${sample.status}`);
  const bare = await startBare(size, path.join(tmp, "bare.log"));
  procs.push(bare);
  log(`status fragment: ${size} bytes; ${P.pairs} pairs of ${P.seconds} s`);
  // Warm-up (JIT, connections), not measured: the first pair would otherwise pay for it.
  await load(app.url, paths, { connections: CONNECTIONS, seconds: Math.min(3, P.seconds) });
  await load(bare.url, ["/"], { connections: CONNECTIONS, seconds: 1 });
  const before = await fragmentVsBare(app, bare, paths);
  const pageBefore = await pageLatency(app, baseline[0]!, P.pageRequests);
  // The server's memory having polled only these 20 jobs: the reference for 10,000 distinct jobs polled, below.
  const rss20 = memoryOf(app.proc.pid!)?.rssKb ?? NaN;
  const cookie = await adminCookie(app);
  const listHeaders = { Cookie: cookie };
  const refreshHeaders = { Cookie: cookie, "HX-Request": "true" };
  await adminLatency(app, "/admin/jobs", listHeaders, 10);
  const listBefore = await adminLatency(app, "/admin/jobs", listHeaders, P.pageRequests);
  const failedBefore = await adminLatency(app, "/admin/jobs?state=failed&type=count", listHeaders, P.pageRequests);
  const refreshBefore = await adminLatency(app, "/admin", refreshHeaders, P.pageRequests);
  extra.fragmentBefore = before;
  rows.push({
    id: "fragment-rps",
    measure: `GET /jobs/:id/status, ${P.running} running jobs, ${CONNECTIONS} conns, ${P.seconds} s`,
    value: before.appRps,
    unit: "req/s",
    reference: { label: `bare node:http, ${size} B body`, value: before.bareRps, unit: "req/s" },
    ratio: before.ratio,
    budget: ">= 0.4 x bare",
    met: before.ratio >= 0.4,
    note:
      `median of ${P.pairs} alternating pairs; pair ratios ${before.pairs.map((p) => p.ratio.toFixed(3)).join(", ")}; p99 ${before.appP99} ms; ${before.failed} failed; ` +
      `server CPU per request ${before.appCpuUs.toFixed(0)} us vs bare ${before.bareCpuUs.toFixed(0)} us (${(before.bareCpuUs / before.appCpuUs).toFixed(2)}); ` +
      clientNote(before),
  });

  // 6. Growth: the same with many finished jobs stored.
  const memBefore = await usedMemory();
  const t0 = Date.now();
  const finished = [...baseline, ...(await fillFinished(store, P.growth - BASELINE_FINISHED))];
  const fillSeconds = (Date.now() - t0) / 1000;
  const memAfter = await usedMemory();
  const perJob = (memAfter - memBefore) / (P.growth - BASELINE_FINISHED);
  log(`stored ${P.growth} finished jobs in ${fillSeconds.toFixed(1)} s`);
  // The same warm-up again, not measured: right after the fill, Redis is still
  // settling its grown key space: in one run the first pair after the fill
  // answered about a third fewer polls and the third pair was back to the
  // level before. The budget is about jobs kept, not the moment they were written.
  await load(app.url, paths, { connections: CONNECTIONS, seconds: Math.min(3, P.seconds) });
  await load(bare.url, ["/"], { connections: CONNECTIONS, seconds: 1 });
  const after = await fragmentVsBare(app, bare, paths);
  const pageAfter = await pageLatency(app, baseline[0]!, P.pageRequests);
  await adminLatency(app, "/admin/jobs", listHeaders, 10);
  const listAfter = await adminLatency(app, "/admin/jobs", listHeaders, P.pageRequests);
  const failedAfter = await adminLatency(app, "/admin/jobs?state=failed&type=count", listHeaders, P.pageRequests);
  const refreshAfter = await adminLatency(app, "/admin", refreshHeaders, P.pageRequests);
  const grown = P.growth.toLocaleString("en-GB");
  rows.push({
    id: "admin-list",
    measure: `GET /admin/jobs (first page, 50 rows) p50, one at a time, ${grown} finished jobs`,
    value: listAfter.p50,
    unit: "ms",
    reference: { label: `with ${BASELINE_FINISHED} finished jobs`, value: listBefore.p50, unit: "ms" },
    ratio: listAfter.p50 / listBefore.p50,
    budget: "<= 2 x",
    met: listAfter.p50 / listBefore.p50 <= 2,
    note: `p99 ${listAfter.p99.toFixed(2)} vs ${listBefore.p99.toFixed(2)} ms; server CPU ${listAfter.cpuMsPerRequest.toFixed(2)} vs ${listBefore.cpuMsPerRequest.toFixed(2)} ms per request`,
  });
  rows.push({
    id: "admin-list-filtered",
    measure: `GET /admin/jobs?state=failed&type=count p50 (no match), ${grown} finished jobs`,
    value: failedAfter.p50,
    unit: "ms",
    reference: { label: `with ${BASELINE_FINISHED} finished jobs`, value: failedBefore.p50, unit: "ms" },
    ratio: failedAfter.p50 / failedBefore.p50,
    budget: "<= 2 x",
    met: failedAfter.p50 / failedBefore.p50 <= 2,
  });
  rows.push({
    id: "admin-refresh-cpu",
    measure: `dashboard refresh (GET /admin, HX-Request) server CPU, ${grown} finished jobs`,
    value: refreshAfter.cpuMsPerRequest,
    unit: "ms",
    reference: { label: `with ${BASELINE_FINISHED} finished jobs`, value: refreshBefore.cpuMsPerRequest, unit: "ms" },
    ratio: refreshAfter.cpuMsPerRequest / refreshBefore.cpuMsPerRequest,
    note: `p50 latency ${refreshAfter.p50.toFixed(2)} vs ${refreshBefore.p50.toFixed(2)} ms; ${P.pageRequests} requests one at a time`,
  });
  extra.fragmentAfter = after;
  extra.loadClient = LOAD_CLIENT;
  const growth = after.ratio / before.ratio;
  rows.push({
    id: "growth-fragment",
    measure: `status throughput with ${P.growth.toLocaleString("en-GB")} finished jobs`,
    value: after.appRps,
    unit: "req/s",
    reference: { label: `with ${BASELINE_FINISHED} finished jobs`, value: before.appRps, unit: "req/s" },
    ratio: growth,
    budget: ">= 0.9 x (cost <= 10%)",
    met: growth >= 0.9,
    note:
      `ratio of the bare-normalised throughputs (${after.ratio.toFixed(3)} / ${before.ratio.toFixed(3)}); raw ${(after.appRps / before.appRps).toFixed(3)}; ` +
      `pair ratios after ${after.pairs.map((p) => p.ratio.toFixed(3)).join(", ")}; ` +
      `server CPU per request ${after.appCpuUs.toFixed(1)} vs ${before.appCpuUs.toFixed(1)} us; ${clientNote(after)}`,
  });
  // What load hardly changes: the server's CPU per poll, with the finished jobs stored against without.
  const cpuGrowth = after.appCpuUs / before.appCpuUs;
  rows.push({
    id: "growth-fragment-cpu",
    measure: `server CPU per status poll with ${P.growth.toLocaleString("en-GB")} finished jobs`,
    value: after.appCpuUs,
    unit: "us",
    reference: { label: `with ${BASELINE_FINISHED} finished jobs`, value: before.appCpuUs, unit: "us" },
    ratio: cpuGrowth,
    budget: "<= 1.1 x",
    met: cpuGrowth <= 1.1,
    note:
      `median of ${P.pairs} runs each; per run ${after.pairs.map((p) => p.app.cpuUsPerRequest.toFixed(1)).join(", ")} vs ${before.pairs.map((p) => p.app.cpuUsPerRequest.toFixed(1)).join(", ")} us; ` +
      `the bare server's ${after.bareCpuUs.toFixed(1)} vs ${before.bareCpuUs.toFixed(1)} us in the same runs; ` +
      `each pair's server CPU over its bare server's (what the machine's load does to both): median ${cpuOverBare(after).toFixed(2)} vs ${cpuOverBare(before).toFixed(2)}`,
  });
  rows.push({
    id: "growth-page",
    measure: `GET /jobs/:id (HTML) p50, one at a time, ${P.growth.toLocaleString("en-GB")} finished jobs`,
    value: pageAfter.p50,
    unit: "ms",
    reference: { label: `with ${BASELINE_FINISHED} finished jobs`, value: pageBefore.p50, unit: "ms" },
    ratio: pageAfter.p50 / pageBefore.p50,
    note: `p99 ${pageAfter.p99.toFixed(2)} vs ${pageBefore.p99.toFixed(2)} ms`,
  });
  // 7. Memory: 10,000 distinct jobs polled (each twice: the second may be answered from the status cache).
  const distinct = finished.slice(0, P.distinct).map((id) => `${app.url}/jobs/${id}/status?shown=succeeded`);
  const t1 = performance.now();
  const answers = await getAll([...distinct, ...distinct], CONNECTIONS, { "HX-Request": "true" });
  const pollSeconds = (performance.now() - t1) / 1000;
  if (answers.some((status) => status !== 286)) throw new Error(`distinct polls answered ${[...new Set(answers)].join(", ")}`);
  const rssDistinct = memoryOf(app.proc.pid!)?.rssKb ?? NaN;
  rows.push({
    id: "rss-distinct",
    measure: `server RSS after polling ${distinct.length.toLocaleString("en-GB")} distinct jobs`,
    value: rssDistinct / 1024,
    unit: "MiB",
    reference: { label: `having polled ${P.running} jobs`, value: rss20 / 1024, unit: "MiB" },
    ratio: rssDistinct / rss20,
    budget: "<= +50 MB",
    met: (rssDistinct - rss20) * 1024 <= 50e6,
    note: `+${((rssDistinct - rss20) / 1024).toFixed(1)} MiB; each job polled twice, ${(answers.length / pollSeconds).toFixed(0)} polls/s; STATUS_CACHE_MAX_BYTES default`,
  });
  rows.push({
    id: "redis-per-job",
    measure: "Redis memory per finished 1..10 count job",
    value: perJob,
    unit: "B",
    budget: "< 1024 B",
    met: perJob < 1024,
    note: `INFO used_memory ${memBefore} -> ${memAfter} over ${P.growth - BASELINE_FINISHED} jobs`,
  });

  killProcessesIn(path.join(tmp, prefix));
  await app.close();
  await bare.close();
}

/** Every command Redis has run so far (INFO commandstats counts a script's inner calls too). */
async function commandsRun(): Promise<number> {
  const info = await client!.info("commandstats");
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

/**
 * 8. Redis load per poll: 20 running jobs that each change once a second;
 * Redis commands during W seconds of polling, less those of W idle seconds
 * (the jobs' own reports, the sweeps), per poll. With the status cache, and
 * with it off (the reference) in the same run. 9. Freshness: with the cache,
 * jobs changing every 100 ms and pollers that note when each change first
 * shows (test/support/churn.ts).
 */
async function redisLoadPhase(): Promise<void> {
  const measure = async (name: string, extraEnv: Record<string, string>) => {
    const prefix = `bench-load-${name}`;
    const app = await appProcess(
      appEnv(prefix, { COUNT_STEP_DELAY_MS: "1000", JOB_CONCURRENCY_COUNT: String(P.running), ...extraEnv }),
      `app-${name}`,
    );
    procs.push(app);
    const store = storeFor(prefix);
    const ids: string[] = [];
    for (let i = 0; i < P.running; i++) ids.push(await submit(app, 1000));
    await untilAll(store, ids, (state, done) => state === "running" && done >= 1, 60_000, `${P.running} jobs running`);
    const paths = ids.map((id) => `/jobs/${id}/status?shown=running`);
    await load(app.url, paths, { connections: CONNECTIONS, seconds: 1 });
    const idle0 = await commandsRun();
    await sleep(P.redisWindowS * 1000);
    const idle = (await commandsRun()) - idle0 - 1;
    const busy0 = await commandsRun();
    const polled = await load(app.url, paths, { connections: CONNECTIONS, seconds: P.redisWindowS });
    const busy = (await commandsRun()) - busy0 - 1;
    const polls = polled.rps * P.redisWindowS;
    return { app, store, perPoll: (busy - idle) / polls, idle, busy, polls };
  };
  const off = await measure("off", { STATUS_CACHE_MAX_ENTRIES: "0" });
  killProcessesIn(path.join(tmp, "bench-load-off"));
  await off.app.close();
  const on = await measure("on", {});
  rows.push({
    id: "redis-per-poll",
    measure: `Redis commands per status poll, ${P.running} running jobs each changing once a second, ${P.redisWindowS} s`,
    value: on.perPoll,
    unit: "",
    reference: { label: "the status cache off (STATUS_CACHE_MAX_ENTRIES=0)", value: off.perPoll, unit: "" },
    ratio: on.perPoll / off.perPoll,
    budget: "<= 0.1",
    met: on.perPoll <= 0.1,
    note:
      `INFO commandstats: ${on.busy} commands while polling (${Math.round(on.polls)} polls) less ${on.idle} idle; ` +
      `cache off: ${off.busy} less ${off.idle} over ${Math.round(off.polls)} polls`,
  });

  const result = await churn(on.store, {
    urls: [on.app.url],
    jobs: P.running,
    intervalMs: 100,
    churnMs: P.redisWindowS * 1000,
    quietMs: 1500,
    pollers: 4,
  });
  if (result.wrong.length > 0) throw new Error(`churn: ${result.wrong.length} wrong answers, e.g. ${result.wrong[0]}`);
  const p99 = quantile(result.shownAfter, 0.99);
  rows.push({
    id: "freshness-p99",
    measure: `Freshness: a job's change in Redis until a poll shows it, p99 (${P.running} jobs changing every 100 ms)`,
    value: p99,
    unit: "ms",
    budget: "< 50 ms",
    met: p99 < 50,
    note:
      `median ${median(result.shownAfter).toFixed(1)} ms, max ${Math.max(...result.shownAfter).toFixed(1)} ms over ${result.shownAfter.length} changes; ` +
      `${result.polls} polls by 4 pollers; answers older than Redis: p99 ${result.p99.toFixed(1)} ms, max ${result.max.toFixed(1)} ms`,
  });
  killProcessesIn(path.join(tmp, "bench-load-on"));
  await on.app.close();
}

/** 2, 3, 5: an app whose jobs count without delay, at the default concurrency. */
async function quickJobsPhase(): Promise<void> {
  const prefix = "bench-fast";
  const env = appEnv(prefix, { COUNT_STEP_DELAY_MS: "0" });
  const app = await appProcess(env, "app-fast");
  procs.push(app);
  const store = storeFor(prefix);

  // 2. Submit latency, one request at a time.
  const latencies: number[] = [];
  const submitted: string[] = [];
  for (let i = 0; i < P.submits; i++) {
    const t0 = performance.now();
    submitted.push(await submit(app));
    latencies.push(performance.now() - t0);
  }
  rows.push({ id: "submit-p50", measure: `POST /count p50 (${P.submits}, one at a time)`, value: quantile(latencies, 0.5), unit: "ms" });
  rows.push({ id: "submit-p99", measure: `POST /count p99 (${P.submits}, one at a time)`, value: quantile(latencies, 0.99), unit: "ms" });
  await untilAll(store, submitted, (state) => terminal(state), 60_000, "submitted jobs to finish");

  // 3. Time to running against `node -e 0` spawned the same way.
  const config = loadConfig({ ...env, PATH: process.env.PATH });
  const jobEnv = jobEnvironment(config);
  const logDir = env.JOB_LOG_DIR!;
  const job: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < P.ttr; i++) {
    const t0 = Date.now();
    const id = await submit(app);
    const [key] = store.jobKeys(id);
    const startedAt = await waitFor(async () => Number(await client!.hget(key, "startedAt")), {
      timeout: 30_000,
      interval: 2,
      message: `job ${id} to start`,
    });
    job.push(startedAt - t0);
    await untilAll(store, [id], (state) => terminal(state), 30_000, `job ${id} to finish`);

    const fd = fs.openSync(path.join(logDir, "node-e-0.log"), "a");
    const t1 = performance.now();
    const child = spawn(process.execPath, ["-e", "0"], { detached: true, stdio: ["ignore", fd, fd], env: jobEnv, cwd: logDir });
    fs.closeSync(fd);
    await new Promise((resolve) => child.once("exit", resolve));
    bare.push(performance.now() - t1);
  }
  const ttr = median(job);
  const ref = median(bare);
  rows.push({
    id: "time-to-running",
    measure: `POST /count until running (Redis startedAt), median of ${P.ttr}`,
    value: ttr,
    unit: "ms",
    reference: { label: "spawn `node -e 0` until exit, same env, median", value: ref, unit: "ms" },
    ratio: ttr / ref,
    budget: "<= 1.5 x",
    met: ttr / ref <= 1.5,
    note: `p90 ${quantile(job, 0.9).toFixed(0)} ms vs ${quantile(bare, 0.9).toFixed(0)} ms`,
  });

  // 5. Burst: all at once, default concurrency.
  const t0 = performance.now();
  const ids: string[] = [];
  const inFlight = 20;
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < P.burst) {
        next += 1;
        ids.push(await submit(app));
      }
    }),
  );
  await untilAll(store, ids, (state) => terminal(state), 300_000, "the burst to finish");
  const wall = (performance.now() - t0) / 1000;
  const records = await Promise.all(ids.map((id) => store.read(id, "all")));
  const ok = records.filter((r) => r?.state === "succeeded" && r.results.join(",") === "1,2,3,4,5").length;
  rows.push({
    id: "burst",
    measure: `burst of ${P.burst} jobs (1..5, no delay), concurrency ${config.jobConcurrencyByType.count ?? count.concurrency ?? config.jobConcurrency}`,
    value: wall,
    unit: "s",
    budget: "< 10 s, all succeeded",
    met: wall < 10 && ok === P.burst,
    note: `${ok} of ${P.burst} succeeded with the right values; ${P.burst - records.filter(Boolean).length} missing`,
  });

  await app.close();
}

/** 4a: CPU of one job process, started exactly as the server starts it. */
async function cpuPhase(): Promise<void> {
  const prefix = "bench-cpu";
  const env = appEnv(prefix, { COUNT_STEP_DELAY_MS: "0" });
  const config = loadConfig({ ...env, PATH: process.env.PATH });
  const store = storeFor(prefix);
  const script = jobScript(count);
  const cpu: number[] = [];
  const own: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < P.cpuRuns; i++) {
    const id = await store.create({ type: "count", params: { start: 1, end: 5, increment: 1 }, total: 5, queueMax: 1e9 });
    const claimed = await store.claim("bench-cpu", 60_000, ["count"], ["count"]);
    if (claimed?.id !== id) throw new Error("claimed another job than the one created");
    const before = childrenCpuMs();
    const { child } = launch({ id, script, logDir: config.jobLogDir, env: jobEnvironment(config) });
    const code = await new Promise((resolve) => child.once("exit", resolve));
    cpu.push(childrenCpuMs() - before);
    const job = await store.read(id);
    if (code !== 0 || job?.state !== "succeeded") throw new Error(`job exited ${String(code)} as ${job?.state}`);
    // What the job counted itself at its end (getrusage, to the microsecond; its exit is not in it).
    own.push(job.usage?.cpuMs ?? NaN);
    // The reference: a Node process that does nothing, spawned the same way.
    const fd = fs.openSync(path.join(config.jobLogDir, "node-e-0.log"), "a");
    const b0 = childrenCpuMs();
    const node = spawn(process.execPath, ["-e", "0"], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: jobEnvironment(config),
      cwd: config.jobLogDir,
    });
    fs.closeSync(fd);
    await new Promise((resolve) => node.once("exit", resolve));
    bare.push(childrenCpuMs() - b0);
  }
  const value = median(cpu);
  const reference = median(bare);
  rows.push({
    id: "cpu-per-job",
    measure: `CPU (user+sys) per job process, 1..5 no delay, median of ${P.cpuRuns}`,
    value,
    unit: "ms",
    reference: { label: "node -e 0, spawned the same way", value: reference, unit: "ms" },
    ratio: value / reference,
    budget: "<= 30 ms",
    met: value <= 30,
    note:
      `/proc's clock ticks (10 ms); the job's own count at its end (getrusage): median ${median(own).toFixed(0)} ms; ` +
      `node args: ${JSON.stringify(jobNodeArgs(script))}; runs ${cpu.map((c) => c.toFixed(0)).join(", ")}; node -e 0 ${bare.map((c) => c.toFixed(0)).join(", ")}`,
  });
}

/**
 * 4b: start-up cost of a command job (the runner and a Python program): from
 * spawning the runner, as the server does, to its program's first message
 * applied in Redis (the primes type, N = 2: its first message comes before
 * any work). The reference: `python3 -c pass`, spawned with the same kind of
 * environment and a fresh working directory, to its exit.
 */
/** What the runner is told the host offers (SIDEJOB_BOX): the host's own, or less of it for a reference. */
type BoxVariant = "host" | "unconfined" | "limits";

function boxEnv(host: HostBox, variant: BoxVariant): Record<string, string> {
  const box: HostBox =
    variant === "host"
      ? host
      : variant === "limits"
        ? { ...host, bwrap: null }
        : { cgroup: null, bwrap: null, prlimit: null, user: null, notes: [] };
  return { [BOX_ENV]: JSON.stringify(box), ISOLATION_UNAVAILABLE: variant === "host" ? "refuse" : "unconfined" };
}

/** One primes job of n = 2 started as the server starts it: spawn of the runner to running, and to the program's first message (ms). */
async function startOnce(store: JobStore, config: ReturnType<typeof loadConfig>, env: Record<string, string>) {
  const script = jobScript(primes);
  const id = await store.create({ type: "primes", params: { n: 2 }, total: 2, queueMax: 1e9 });
  const claimed = await store.claim("bench-runner", 60_000, ["primes"], ["primes"]);
  if (claimed?.id !== id) throw new Error("claimed another job than the one created");
  const t0 = Date.now();
  const { child } = launch({ id, script, logDir: config.jobLogDir, env });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // Redis' clock is this machine's: the record's times compare with t0 (ms).
  const [startedAt, updatedAt] = await waitFor(
    async () => {
      const [started, updated, status] = await client!.hmget(store.jobKeys(id)[0], "startedAt", "updatedAt", "status");
      return status ? [Number(started), Number(updated)] : null;
    },
    { timeout: 15_000, interval: 2, message: "the program's first message" },
  );
  const code = (await exited) as number | null;
  const job = await store.read(id);
  if (code !== 0 || job?.state !== "succeeded") throw new Error(`runner exited ${code} as ${job?.state}: ${JSON.stringify(job)}`);
  return { id, toRunning: startedAt - t0, toMessage: updatedAt - t0 };
}

/** The python3 a command job's program runs as: Debian's when there is one (a pyenv shim, a bash script, costs more than python3 itself), on both sides of a comparison. */
const PYTHON_PATH = fs.existsSync("/usr/bin/python3") ? "/usr/bin:/bin" : (process.env.PATH ?? "/usr/bin:/bin");

/** Whether the python3 first on PATH is a script (a pyenv shim) rather than the interpreter. */
function pythonShim(PATH: string): string | null {
  for (const dir of PATH.split(":").filter(Boolean)) {
    const file = path.join(dir, "python3");
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      continue;
    }
    const fd = fs.openSync(file, "r");
    try {
      const head = Buffer.alloc(2);
      fs.readSync(fd, head, 0, 2, 0);
      return head.toString() === "#!" ? file : null;
    } finally {
      fs.closeSync(fd);
    }
  }
  return null;
}

/** Spawns argv as the runner spawns a program (pipes on 0-3, params on stdin); ms until its first line on fd 3, and until it exits. */
async function programAlone(argv: string[], env: Record<string, string>, cwd: string): Promise<{ firstMessage: number; exit: number }> {
  const t0 = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ["pipe", "pipe", "pipe", "pipe"] });
  let firstMessage = NaN;
  const fd3 = child.stdio[3] as NodeJS.ReadableStream;
  fd3.once("data", () => (firstMessage = performance.now() - t0));
  fd3.resume();
  child.stdin.end(`${JSON.stringify({ n: 2 })}\n`);
  child.stdout.resume();
  child.stderr.resume();
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const exit = performance.now() - t0;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}`);
  return { firstMessage, exit };
}

async function runnerStartPhase(): Promise<void> {
  const prefix = "bench-runner";
  const env = appEnv(prefix, {});
  const config = loadConfig({ ...env, PATH: process.env.PATH });
  const store = storeFor(prefix);
  const script = jobScript(primes);
  const host = probeHost(config.box);
  const toRunning: number[] = [];
  const toMessage: number[] = [];
  const python: number[] = [];
  const alone: number[] = [];
  const bareNode: number[] = [];
  if (!("command" in primes.run)) throw new Error("primes is not a command type");
  const program = commandLine(primes.run.command, jobTypesDir(ROOT), { n: 2 });
  const shim = pythonShim(process.env.PATH ?? "");
  for (let i = 0; i < P.runnerStarts; i++) {
    const jobEnv = { ...jobEnvironment(config), PATH: PYTHON_PATH };
    const started = await startOnce(store, config, { ...jobEnv, ...boxEnv(host, "host") });
    toRunning.push(started.toRunning);
    toMessage.push(started.toMessage);

    const home = fs.mkdtempSync(path.join(tmp, "py-"));
    const pyEnv = programEnvironment({ PATH: PYTHON_PATH }, { id: started.id, params: { n: 2 }, home, outputDir: home, inputs: {} });
    python.push((await programAlone(["python3", "-c", "pass"], pyEnv, home)).exit);
    // The same program without a runner: its own start to its first message (the part no runner can save).
    alone.push((await programAlone(program, pyEnv, home)).firstMessage);
    // A Node process, spawned as the server spawns a job (detached, same environment, output to a file), to its exit.
    const fd = fs.openSync(path.join(config.jobLogDir, "node-e-0.log"), "a");
    const n0 = performance.now();
    const child = spawn(process.execPath, ["-e", "0"], { detached: true, stdio: ["ignore", fd, fd], env: jobEnv, cwd: config.jobLogDir });
    fs.closeSync(fd);
    await new Promise((resolve) => child.once("exit", resolve));
    bareNode.push(performance.now() - n0);
    await delay(50);
  }
  const value = median(toMessage);
  const reference = median(python);
  const own = median(alone);
  const node = median(bareNode);
  rows.push({
    id: "runner-first-message",
    measure: `Command job start: spawn of the runner to the Python program's first message in Redis, median of ${P.runnerStarts}`,
    value,
    unit: "ms",
    reference: { label: "python3 -c pass, spawn to exit", value: reference, unit: "ms" },
    ratio: value / reference,
    budget: "<= 1.25 x",
    met: value / reference <= 1.25,
    note:
      `python3 from PATH=${PYTHON_PATH} on both sides${shim ? ` (the PATH's first python3, ${shim}, is a script: a shim's own start would weigh on both sides)` : ""}; ` +
      `in this host's box (${describeHost(host)}); spawn to running (runner started, before the program): median ${median(toRunning).toFixed(0)} ms; ` +
      `the program alone (${path.basename(program[1] ?? "")}, spawned by hand) to its first message: ${own.toFixed(0)} ms; node -e 0: ${node.toFixed(0)} ms; ` +
      `a Node runner's floor, node -e 0 and then the program: ${(node + own).toFixed(0)} ms (${((node + own) / reference).toFixed(2)} x); ` +
      `node args: ${JSON.stringify(jobNodeArgs(script))}; runs ${toMessage.join(", ")}; python3 -c pass ${python.map((p) => p.toFixed(0)).join(", ")}`,
  });
  rows.push({
    id: "runner-own-start",
    measure: `Command job start: what the runner adds (the above less the program's own start to its first message), median of ${P.runnerStarts}`,
    value: value - own,
    unit: "ms",
    reference: { label: "node -e 0, spawned as a job, to its exit", value: node, unit: "ms" },
    ratio: (value - own) / node,
    note: "the runner's Node start, its Redis connection and start, the box, the spawn, and the first message's report",
  });

  // 4c. What the box costs a job's start: the same job unconfined, with its limits only (cgroup and
  // prlimit), and in the host's whole box (bubblewrap too), in turns, in the same run.
  const times: Record<BoxVariant, number[]> = { unconfined: [], limits: [], host: [] };
  const order: BoxVariant[] = ["unconfined", "limits", "host"];
  for (let i = 0; i < P.runnerStarts; i++) {
    for (const variant of i % 2 === 0 ? order : [...order].reverse()) {
      // Debian's python3 for all three (a pyenv shim on PATH would be found by some and not by others).
      const env = { ...jobEnvironment(config), PATH: "/usr/bin:/bin", ...boxEnv(host, variant) };
      times[variant].push((await startOnce(store, config, env)).toMessage);
      await delay(20);
    }
  }
  const unconfined = median(times.unconfined);
  for (const [variant, label] of [
    ["limits", "with its limits (a cgroup and prlimit)"],
    ["host", `in the host's whole box (${describeHost(host)})`],
  ] as const) {
    rows.push({
      id: `box-start-${variant}`,
      measure: `Command job start ${label}: spawn of the runner to the program's first message, median of ${P.runnerStarts}`,
      value: median(times[variant]),
      unit: "ms",
      reference: { label: "the same job unconfined (no cgroup, no rlimits, no bubblewrap)", value: unconfined, unit: "ms" },
      ratio: median(times[variant]) / unconfined,
      note: `PATH=/usr/bin:/bin (Debian's python3); runs ${times[variant].join(", ")}; unconfined ${times.unconfined.join(", ")}`,
    });
  }
}

/**
 * 5. The CSV check of a generated file (about 100 bytes a row, eight columns,
 * a problem every 100,000 rows), run as the server runs it: the upload in
 * Redis, the runner copying it to a file and running csv_check.py. Its wall
 * time (the job's startedAt to finishedAt in Redis: the copy and the check)
 * against python3 reading the same file with csv.reader and nothing else,
 * alternating, median of the pairs; and the peak RSS (VmHWM) of the
 * program, at two sizes, to show it does not grow with the file.
 */
async function csvPhase(): Promise<void> {
  const prefix = "bench-csv";
  const fileDir = path.join(tmp, "csv-files");
  fs.mkdirSync(fileDir, { recursive: true });
  const script = jobScript(csvCheck);
  // Files in Redis (the default), and in FILE_STORE_DIR, where the program reads the stored upload in place.
  const modes = [
    { name: "redis", env: appEnv(prefix, {}), store: storeFor(prefix) },
    {
      name: "dir",
      env: appEnv(`${prefix}-dir`, { FILE_STORE_DIR: fileDir }),
      store: new JobStore(client!, { prefix: `${prefix}-dir`, ttlSucceededS: 86_400, ttlFailedS: 604_800, fileDir }),
    },
  ];
  const peaks: {
    mib: number;
    rows: number;
    peakKb: number;
    runnerPeakKb: number;
    seconds: number;
    whole: Record<string, number>;
    checker: number;
    reference: number;
  }[] = [];
  for (const mib of P.csvMiB) {
    const file = path.join(tmp, `bench-${mib}.csv`);
    const rows = writeCsv(file, mib * 1024 * 1024);
    const content = fs.readFileSync(file);
    const jobs: number[] = [];
    const wholes: Record<string, number[]> = { redis: [], dir: [] };
    const checkers: number[] = [];
    const references: number[] = [];
    let peakKb = 0;
    let runnerPeakKb = 0;
    for (let pair = 0; pair < P.csvPairs; pair++) {
      const r0 = performance.now();
      const ref = spawn(
        "python3",
        ["-c", "import csv, sys\nwith open(sys.argv[1], newline='') as f:\n    for row in csv.reader(f): pass", file],
        { stdio: "ignore" },
      );
      const refCode = await new Promise<number | null>((resolve) => ref.once("exit", resolve));
      references.push((performance.now() - r0) / 1000);
      if (refCode !== 0) throw new Error(`the csv.reader reference exited ${refCode}`);

      for (const mode of modes) {
        const { store } = mode;
        const config = loadConfig({ ...mode.env, PATH: process.env.PATH });
        // From the upload's first byte stored, as the form stores it, to the job's report.
        const w0 = performance.now();
        const id = newJobId();
        for (let at = 0; at < content.length; at += 512 * 1024)
          await store.appendUpload(id, "file", content.subarray(at, at + 512 * 1024), at);
        await store.uploadStored(id, "file");
        await store.create({
          id,
          uploads: ["file"],
          type: "csv-check",
          params: { file: { name: `bench-${mib}.csv`, size: content.length }, delimiter: "detect", header: true },
          total: rows,
          queueMax: 1e9,
        });
        const claimed = await store.claim("bench-csv", 600_000, ["csv-check"], ["csv-check"]);
        if (claimed?.id !== id) throw new Error("claimed another job than the one created");
        const { child } = launch({ id, script, logDir: config.jobLogDir, env: jobEnvironment(config) });
        const exited = new Promise((resolve) => child.once("exit", resolve));
        let running = true;
        void exited.then(() => (running = false));
        // The peak (VmHWM) of the runner and of its program, read until they exit.
        while (running) {
          if (mode.name === "redis") {
            runnerPeakKb = Math.max(runnerPeakKb, peakOf(child.pid!));
            for (const pid of childrenOf(child.pid!)) peakKb = Math.max(peakKb, peakOf(pid));
          }
          await delay(5);
        }
        const job = await store.read(id);
        wholes[mode.name]!.push((performance.now() - w0) / 1000);
        if (job?.state !== "succeeded") throw new Error(`the CSV check ended ${job?.state}: ${JSON.stringify(job?.error ?? job?.detail)}`);
        if (mode.name === "redis") {
          jobs.push((job.finishedAt! - job.startedAt!) / 1000);
          // The program's own time, from its first read of the file to its report (its summary says).
          const summary = (job.results as { part?: string; summary?: { seconds: number } }[]).find((r) => r.part === "summary")?.summary;
          checkers.push(summary?.seconds ?? NaN);
        }
        await store.deleteUploads(id, ["file"]);
      }
    }
    peaks.push({
      mib,
      rows,
      peakKb,
      runnerPeakKb,
      seconds: median(jobs),
      whole: { redis: median(wholes.redis!), dir: median(wholes.dir!) },
      checker: median(checkers),
      reference: median(references),
    });
    fs.rmSync(file);
    log(
      `csv ${mib} MiB: job ${jobs.map((j) => j.toFixed(2)).join(", ")} s; checker ${checkers.map((j) => j.toFixed(2)).join(", ")} s; ` +
        `upload to report ${wholes.redis!.map((j) => j.toFixed(2)).join(", ")} s (Redis), ${wholes.dir!.map((j) => j.toFixed(2)).join(", ")} s (FILE_STORE_DIR); ` +
        `csv.reader ${references.map((r) => r.toFixed(2)).join(", ")} s; peak ${peakKb} kB`,
    );
  }
  const big = peaks.at(-1)!;
  const small = peaks[0]!;
  rows.push({
    id: "csv-check-time",
    measure: `CSV check of ${big.mib} MiB (${big.rows.toLocaleString("en-GB")} rows, 8 columns): the checker, median of ${P.csvPairs}`,
    value: big.checker,
    unit: "s",
    reference: { label: "python3 csv.reader over the same file, nothing else", value: big.reference, unit: "s" },
    ratio: big.checker / big.reference,
    budget: "<= 3.0 x",
    met: big.checker / big.reference <= 3,
    note: `${small.mib} MiB: ${small.checker.toFixed(2)} s against ${small.reference.toFixed(2)} s (${(small.checker / small.reference).toFixed(2)} x)`,
  });
  rows.push({
    id: "csv-whole-job-dir",
    measure: `The same with FILE_STORE_DIR, upload to report: the file stored as the form stores it, the job created and run, the program reading it in place`,
    value: big.whole.dir!,
    unit: "s",
    reference: { label: "csv.reader, as above", value: big.reference, unit: "s" },
    ratio: big.whole.dir! / big.reference,
    budget: "<= 2.0 x",
    met: big.whole.dir! / big.reference <= 2,
    note: `with files in Redis: ${big.whole.redis!.toFixed(2)} s (${(big.whole.redis! / big.reference).toFixed(2)} x); ${small.mib} MiB: ${small.whole.dir!.toFixed(2)} s with FILE_STORE_DIR, ${small.whole.redis!.toFixed(2)} s in Redis`,
  });
  rows.push({
    id: "csv-job-time",
    measure: `The same as a job: the upload copied from Redis, python3 started, the check, the report stored`,
    value: big.seconds,
    unit: "s",
    reference: { label: "csv.reader, as above", value: big.reference, unit: "s" },
    ratio: big.seconds / big.reference,
    note: `${small.mib} MiB: ${small.seconds.toFixed(2)} s`,
  });
  rows.push({
    id: "csv-check-peak-rss",
    measure: `Peak RSS of the checker (python3) on ${big.mib} MiB`,
    value: big.peakKb / 1024,
    unit: "MiB",
    reference: { label: `on ${small.mib} MiB`, value: small.peakKb / 1024, unit: "MiB" },
    ratio: big.peakKb / small.peakKb,
    budget: "< 100 MiB, flat",
    met: big.peakKb / 1024 < 100 && big.peakKb / small.peakKb < 1.25,
    note: `the runner's own peak RSS: ${(big.runnerPeakKb / 1024).toFixed(1)} MiB (${big.mib} MiB), ${(small.runnerPeakKb / 1024).toFixed(1)} MiB (${small.mib} MiB)`,
  });
}

/** Writes a CSV file of about `bytes` (eight columns, a problem every 100,000 rows); returns its rows. */
function writeCsv(file: string, bytes: number): number {
  const fd = fs.openSync(file, "w");
  const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
  let written = fs.writeSync(fd, "id,name,city,amount,count,date,code,note\r\n");
  let rows = 0;
  let batch: string[] = [];
  while (written < bytes) {
    rows++;
    const w = (k: number) => words[(rows * k) % words.length]!;
    const line =
      rows % 100_000 === 7
        ? `${rows},${w(3)},oops,not a number,1,2024-01-01,C1\r\n`
        : `${rows},${w(3)} ${w(5)},${w(7)},${((rows * 7919) % 100_000) / 100},${(rows % 1001) - 500},2024-${String((rows % 12) + 1).padStart(2, "0")}-${String((rows % 28) + 1).padStart(2, "0")},C${1000 + (rows % 9000)},"note ${rows}, with a comma and a few more words"\r\n`;
    batch.push(line);
    written += line.length;
    if (batch.length === 10_000) {
      fs.writeSync(fd, batch.join(""));
      batch = [];
    }
  }
  fs.writeSync(fd, batch.join(""));
  fs.closeSync(fd);
  return rows;
}

/** A process's private dirty pages (kB, /proc/<pid>/smaps_rollup), NaN when it is gone. */
function privateDirtyKb(pid: number): number {
  try {
    return Number(/^Private_Dirty:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** A process's peak resident set (VmHWM, kB), 0 when it is gone. */
function peakOf(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- report

function fmt(n: number | undefined, unit = ""): string {
  if (n === undefined || Number.isNaN(n)) return "";
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
  return `${n.toLocaleString("en-GB", { maximumFractionDigits: digits, minimumFractionDigits: digits })}${unit ? ` ${unit}` : ""}`;
}

function table(): string {
  const head = ["Measure", "Value", "Reference (same run)", "Ratio", "Budget", "Met"];
  const body = rows.map((r) => [
    r.measure,
    fmt(r.value, r.unit),
    r.reference ? `${fmt(r.reference.value, r.reference.unit)} (${r.reference.label})` : "",
    r.ratio === undefined ? "" : fmt(r.ratio),
    r.budget ?? "",
    r.met === undefined ? "" : r.met ? "met" : "MISSED",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

/** The Redis side of capacity (bench/scaling.ts; bench/README.md, "Scaling: what Redis pays"), on a redis-server of its own. */
async function scalingPhase(): Promise<void> {
  const f = await scaling({ quick });
  extra.scaling = f;
  const cost = (c: { commands: number; bytes: number; cpuUs: number }) =>
    `${c.commands.toFixed(1)} commands, ${Math.round(c.bytes)} B, ${c.cpuUs.toFixed(0)} us of Redis CPU`;
  // Issue 26's rows: its targets are the budgets. A job's figures stand next to what they were before it (the
  // bench's full run of 2026-11-27: counts of commands and bytes do not move with the machine's load); the
  // heartbeat's next to a progress report, and 16 partitions' idle instance next to one partition's, in this run.
  const idle16 = f.idleInstancePerSecond["16"]!;
  const idle1 = f.idleInstancePerSecond["1"]!;
  rows.push({
    id: "redis-commands-per-job",
    measure: "Redis commands per 1..10 count job, submit to end",
    value: f.perJob.commands,
    unit: "",
    reference: { label: "before issue 26, full run of 2026-11-27", value: 173, unit: "" },
    ratio: f.perJob.commands / 173,
    budget: "<= 60",
    met: f.perJob.commands <= 60,
    note: `${cost(f.perJob)}; INFO commandstats, a script's inner calls included; ${f.notes[0]}`,
  });
  rows.push({
    id: "redis-bytes-per-job",
    measure: "Redis bytes per 1..10 count job, submit to end (sent and received)",
    value: f.perJob.bytes / 1024,
    unit: "KB",
    reference: { label: "before issue 26 (scripts sent on each job's connection)", value: 31, unit: "KB" },
    ratio: f.perJob.bytes / 1024 / 31,
    budget: "<= 4 KB",
    met: f.perJob.bytes <= 4 * 1024,
    note: "INFO stats total_net_input_bytes + total_net_output_bytes",
  });
  rows.push({
    id: "redis-commands-per-heartbeat",
    measure: "Redis commands per heartbeat of a running job",
    value: f.perHeartbeat.commands,
    unit: "",
    reference: { label: "a progress report of one value, this run", value: f.perReport.commands, unit: "" },
    ratio: f.perHeartbeat.commands / f.perReport.commands,
    budget: "<= 2",
    met: f.perHeartbeat.commands <= 2,
    note: `heartbeat: ${cost(f.perHeartbeat)}; report: ${cost(f.perReport)}`,
  });
  rows.push({
    id: "redis-idle-instance-16",
    measure: "Redis commands per second of an idle instance, REDIS_PARTITIONS=16",
    value: idle16.commands,
    unit: "/s",
    reference: { label: "REDIS_PARTITIONS=1, this run", value: idle1.commands, unit: "/s" },
    ratio: idle16.commands / Math.max(idle1.commands, 0.01),
    budget: "<= 30",
    met: idle16.commands <= 30,
    note: `16 partitions: ${cost(idle16)}; 1 partition: ${cost(idle1)}`,
  });
  rows.push({
    id: "redis-per-poll-unchanged",
    measure: "Redis per status poll of an unchanged job",
    value: f.perPoll.commands,
    unit: "commands",
    note: cost(f.perPoll),
  });
  rows.push({
    id: "shard-jobs-per-s",
    measure: "jobs/s one Redis shard carries at 50% of a core (from Redis CPU per job)",
    value: f.capacity.jobsPerSecond,
    unit: "jobs/s",
    note: f.notes.join("; "),
  });
}

async function main(): Promise<void> {
  if (!fs.existsSync(jobScript(count))) throw new Error("build/jobs/count.js is missing: run `npm run build` first");
  redis = await startRedis({ tcp: true });
  client = new Redis(redis.url, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  const started = Date.now();
  log(`${quick ? "quick" : "full"} run; redis-server on ${redis.url}; temp ${tmp}`);
  const files = async () => {
    const filesRows = await filesPhase({
      quick,
      tmp,
      client: client!,
      log,
      startApp: (prefix, env) => appProcess(appEnv(prefix, env), prefix).then((p) => (procs.push(p), p)),
    });
    rows.push(...filesRows);
    log("files phase done");
  };
  const slurm = async () => {
    rows.push(
      ...(await slurmPhase({
        quick,
        tmp,
        client: client!,
        log,
        startApp: (prefix, env) => appProcess(appEnv(prefix, env), prefix).then((p) => (procs.push(p), p)),
      })),
    );
    log("slurm phase done");
  };
  if (slurmOnly) {
    await slurm();
  } else if (filesOnly) {
    await files();
  } else if (csvOnly) {
    await csvPhase();
  } else if (!runnerOnly) {
    await runningJobsPhase();
    log("running-jobs phase done");
    await redisLoadPhase();
    log("redis-load phase done");
    await quickJobsPhase();
    log("quick-jobs phase done");
    await cpuPhase();
    await csvPhase();
    log("csv phase done");
  }
  if (!csvOnly && !filesOnly && !slurmOnly) await runnerStartPhase();
  if (!csvOnly && !runnerOnly && !filesOnly && !slurmOnly) {
    await files();
    await slurm();
    await scalingPhase();
  }
  const machine = {
    nproc: os.availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadavg: os.loadavg(),
  };
  const text = table();
  const met = rows.filter((r) => r.met === true).length;
  const budgets = rows.filter((r) => r.met !== undefined).length;
  process.stdout.write(
    `\nsidejob benchmarks, ${new Date().toISOString()}, ${machine.nproc} x ${machine.cpu}, Node ${machine.node}, ` +
      `${command} (${((Date.now() - started) / 1000).toFixed(0)} s)\n\n${text}\n\n` +
      `${met} of ${budgets} budgets met.\n`,
  );
  for (const r of rows.filter((r) => r.note)) process.stdout.write(`- ${r.measure}: ${r.note}\n`);
  const out = path.join(ROOT, "bench", "results");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    path.join(out, "latest.json"),
    JSON.stringify({ date: new Date().toISOString(), command: command, quick, machine, params: P, rows, extra, table: text }, null, 2) +
      "\n",
  );
}

let code = 0;
try {
  await main();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);

// Files fit for real data (FILE_STORE_DIR): a large upload through the form
// and a large output file downloaded, each against a bare Node server doing
// the same with the same bytes (curl, faster than either, on both), with the
// server's RSS and Redis' memory around them; and an upload on a slow link.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Redis } from "ioredis";
import { JobStore, newJobId } from "../jobs/core/store.ts";
import { spawnNode, type ServerProcess } from "../test/support/server.ts";
import { cpuMsOf } from "../test/support/procs.ts";
import { median, type Row } from "./lib.ts";

const run = promisify(execFile);

export interface FilesOptions {
  quick: boolean;
  tmp: string;
  client: Redis;
  log: (message: string) => void;
  /** The app as `npm start` runs it, with these settings added to the bench's. */
  startApp: (prefix: string, env: Record<string, string>) => Promise<ServerProcess>;
}

const MiB = 1024 * 1024;

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function redisUsed(client: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await client.info("memory"))?.[1] ?? 0);
}

/** Runs work while sampling a process's RSS every 20 ms; its result and the peak (kB). */
async function sampled<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peakKb: number }> {
  let peakKb = rssKb(pid);
  const timer = setInterval(() => (peakKb = Math.max(peakKb, rssKb(pid))), 20);
  try {
    const result = await work();
    return { result, peakKb: Math.max(peakKb, rssKb(pid)) };
  } finally {
    clearInterval(timer);
  }
}

/** curl, as a client: its HTTP status and seconds. */
async function curl(args: string[]): Promise<{ status: number; seconds: number }> {
  const { stdout } = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", ...args], { maxBuffer: MiB });
  const [status, seconds] = stdout.trim().split(" ");
  return { status: Number(status), seconds: Number(seconds) };
}

/**
 * The disk settled: what an earlier transfer wrote is on it (sync), so a
 * timed upload does not wait for the kernel to write back another's gigabyte.
 */
async function settled(): Promise<void> {
  await run("sync", []);
}

/** A CSV file of `bytes` (the form's csv-check takes it: text, two columns). */
function writeCsv(file: string, bytes: number): void {
  const line = "12345,some text for a column\n";
  const block = Buffer.from(line.repeat(Math.floor(MiB / line.length)));
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, "id,text\n");
  for (let written = 8; written < bytes; written += block.length)
    fs.writeSync(fd, block.subarray(0, Math.min(block.length, bytes - written)));
  fs.closeSync(fd);
}

/** A bare node:http server: a POST's body streamed to a file, a GET answered with a file streamed. */
function startBareFiles(dir: string, file: string): Promise<ServerProcess> {
  const code = `
    const fs = require("node:fs"), path = require("node:path");
    let n = 0;
    require("node:http").createServer((req, res) => {
      if (req.method === "POST") {
        const out = fs.createWriteStream(path.join(${JSON.stringify(dir)}, "upload-" + n++));
        req.pipe(out).on("finish", () => { res.writeHead(303, { Location: "/" }); res.end(); });
        return;
      }
      const size = fs.statSync(${JSON.stringify(file)}).size;
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": size });
      fs.createReadStream(${JSON.stringify(file)}).pipe(res);
    }).listen(Number(process.env.PORT), process.env.HOST, () => console.log("listening on " + process.env.PORT));`;
  return spawnNode(["-e", code], {}, { logFile: path.join(dir, "bare.log") });
}

export async function filesPhase({ quick, tmp, client, log, startApp }: FilesOptions): Promise<Row[]> {
  const size = quick ? 32 * MiB : 1024 * MiB;
  const pairs = quick ? 1 : 3;
  const store = path.join(tmp, "files-store");
  const bareDir = path.join(tmp, "files-bare");
  fs.mkdirSync(store, { recursive: true });
  fs.mkdirSync(bareDir, { recursive: true });
  const csv = path.join(tmp, "big.csv");
  writeCsv(csv, size);
  const prefix = "bench-files";
  const app = await startApp(prefix, {
    FILE_STORE_DIR: store,
    JOB_UPLOAD_MAX_BYTES: String(2 * size),
    // The jobs stay queued: what is measured is the upload, not the check.
    JOB_CONCURRENCY_CSV_CHECK: "0",
    JOB_CONCURRENCY_COUNT: "0",
  });
  const bare = await startBareFiles(bareDir, csv);
  const pid = app.proc.pid!;
  const form = ["-F", `file=@${csv};type=text/csv`, "-F", "delimiter=comma", "-F", "header=true"];
  const name = `${(size / MiB).toFixed(0)} MiB`;

  // --- Upload through the form, against the bare server's stream to a file.
  const idleKb = rssKb(pid);
  const usedBefore = await redisUsed(client);
  const ours: number[] = [];
  const theirs: number[] = [];
  let peakKb = idleKb;
  // CPU time of each server over its uploads: what the upload costs when the disk is not what bounds it.
  let ourCpuMs = 0;
  let bareCpuMs = 0;
  const barePid = bare.proc.pid!;
  const bareUpload = async (i: number) => {
    await settled();
    const cpuBefore = cpuMsOf(barePid);
    const b = await curl([...form, `${bare.url}/`]);
    bareCpuMs += cpuMsOf(barePid) - cpuBefore;
    if (b.status !== 303) throw new Error(`the bare server answered ${b.status}`);
    theirs.push(b.seconds);
    fs.rmSync(path.join(bareDir, `upload-${i}`), { force: true });
  };
  const ourUpload = async () => {
    await settled();
    const cpuBefore = cpuMsOf(pid);
    const a = await sampled(pid, () => curl([...form, `${app.url}/jobs/new/csv-check`]));
    ourCpuMs += cpuMsOf(pid) - cpuBefore;
    if (a.result.status !== 303) throw new Error(`the upload answered ${a.result.status}`);
    ours.push(a.result.seconds);
    peakKb = Math.max(peakKb, a.peakKb);
  };
  // Each side in turn first: the one after never pays for the other's writes.
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      await bareUpload(i);
      await ourUpload();
    } else {
      await ourUpload();
      await bareUpload(i);
    }
  }
  const usedAfter = await redisUsed(client);
  log(`files: upload of ${name}: ${ours.map((s) => s.toFixed(2)).join(", ")} s; bare ${theirs.map((s) => s.toFixed(2)).join(", ")} s`);
  const rows: Row[] = [];
  const upRatio = median(theirs) / median(ours);
  rows.push({
    id: "upload-throughput",
    measure: `A ${name} upload through the form (curl -F) with FILE_STORE_DIR: throughput, median of ${pairs}`,
    value: size / MiB / median(ours),
    unit: "MiB/s",
    reference: { label: "a bare Node server streaming the same request to a file", value: size / MiB / median(theirs), unit: "MiB/s" },
    ratio: upRatio,
    budget: ">= 0.7 x",
    met: upRatio >= 0.7,
    note: `server CPU per GiB uploaded: ${(ourCpuMs / pairs / (size / 1024 / MiB) / 1000).toFixed(2)} s (the form: multipart parsing, the SHA-256 of the file for idempotent submits), the bare server's ${(bareCpuMs / pairs / (size / 1024 / MiB) / 1000).toFixed(2)} s`,
  });
  rows.push({
    id: "upload-rss",
    measure: `The server's RSS during the ${name} uploads, above its idle RSS`,
    value: (peakKb - idleKb) / 1024,
    unit: "MiB",
    reference: { label: "idle", value: idleKb / 1024, unit: "MiB" },
    budget: "<= +50 MiB",
    met: (peakKb - idleKb) / 1024 <= 50,
  });
  const grew = (usedAfter - usedBefore) / pairs;
  rows.push({
    id: "upload-redis-memory",
    measure: `Redis' used_memory grown by one ${name} upload (and its queued job)`,
    value: grew / MiB,
    unit: "MiB",
    budget: "< 1 MiB",
    met: grew < MiB,
  });

  // --- A large output file downloaded, against the bare server's createReadStream pipe.
  const jobs = new JobStore(client, { prefix, ttlSucceededS: 3600, ttlFailedS: 3600, fileDir: store });
  const id = newJobId();
  await jobs.create({ id, type: "count", params: { start: 1, end: 1, increment: 1 }, total: 0, queueMax: 1e9 });
  if ((await jobs.claim("bench-files", 600_000, ["count"], ["count"]))?.id !== id) throw new Error("claimed another job");
  await jobs.start(id, process.pid, os.hostname(), 600_000);
  if (!(await jobs.putFile(id, "big.bin", { path: csv }))) throw new Error("the output file was not stored");
  await jobs.finish(id, "succeeded", "force");
  const downOurs: number[] = [];
  const downTheirs: number[] = [];
  const idleDownKb = rssKb(pid);
  let downPeakKb = idleDownKb;
  for (let i = 0; i < pairs; i++) {
    const b = await curl([`${bare.url}/big.bin`]);
    downTheirs.push(b.seconds);
    const a = await sampled(pid, () => curl([`${app.url}/jobs/${id}/files/big.bin`]));
    if (a.result.status !== 200) throw new Error(`the download answered ${a.result.status}`);
    downOurs.push(a.result.seconds);
    downPeakKb = Math.max(downPeakKb, a.peakKb);
  }
  log(
    `files: download of ${name}: ${downOurs.map((s) => s.toFixed(2)).join(", ")} s; bare ${downTheirs.map((s) => s.toFixed(2)).join(", ")} s`,
  );
  const downRatio = median(downTheirs) / median(downOurs);
  rows.push({
    id: "download-throughput",
    measure: `A ${name} output file downloaded (curl) from FILE_STORE_DIR: throughput, median of ${pairs}`,
    value: size / MiB / median(downOurs),
    unit: "MiB/s",
    reference: {
      label: "a bare Node server piping createReadStream of the same file",
      value: size / MiB / median(downTheirs),
      unit: "MiB/s",
    },
    ratio: downRatio,
    budget: ">= 0.7 x",
    met: downRatio >= 0.7,
    note: `the server's RSS rose ${((downPeakKb - idleDownKb) / 1024).toFixed(1)} MiB above ${(idleDownKb / 1024).toFixed(1)} MiB while it sent the file`,
  });

  // --- A slow link: 1 MB/s (curl --limit-rate), longer than the 20 s any other request may take.
  const slowBytes = quick ? 3 * MiB : 200 * MiB;
  const slow = path.join(tmp, "slow.csv");
  writeCsv(slow, slowBytes);
  const s = await curl([
    "--limit-rate",
    "1M",
    "-F",
    `file=@${slow};type=text/csv`,
    "-F",
    "delimiter=comma",
    "-F",
    "header=true",
    `${app.url}/jobs/new/csv-check`,
  ]);
  log(`files: ${(slowBytes / MiB).toFixed(0)} MiB at 1 MB/s: ${s.status} after ${s.seconds.toFixed(1)} s`);
  rows.push({
    id: "upload-slow-link",
    measure: `A ${(slowBytes / MiB).toFixed(0)} MiB upload at 1 MB/s (curl --limit-rate 1M)`,
    value: s.seconds,
    unit: "s",
    budget: "answered 303",
    met: s.status === 303,
    note: `answered ${s.status}`,
  });
  fs.rmSync(slow, { force: true });
  fs.rmSync(csv, { force: true });
  await bare.close();
  return rows;
}

// Each server instance runs up to JOB_CONCURRENCY job processes at once and
// looks after them:
// - takes the oldest queued job from Redis whenever it has a free slot (any
//   instance may take any job, so more instances add capacity);
// - records a process that ends without recording its own end (crash, kill,
//   non-zero exit): exit code, signal and the tail of its log;
// - enforces the time limit and the cancel grace with signals to the job's
//   process group (SIGTERM, then SIGKILL);
// - sweeps the lease index, so a job whose process vanished while its server
//   was gone too is recorded as lost by whichever instance looks first.
import fs from "node:fs";
import os from "node:os";
import crypto from "node:crypto";
import { jobEnvironment, type Config } from "./config.ts";
import { launch, signalGroup, tail } from "./launcher.ts";
import { formatDuration } from "../jobs/format.ts";
import type { JobStore } from "../jobs/store.ts";

/** Between SIGTERM and SIGKILL. */
export const TERM_TO_KILL_MS = 2000;
/** How often the lease index and the kill deadlines are checked. */
export const SWEEP_INTERVAL_MS = 500;

interface Running {
  pid: number;
  timeout: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  exited: Promise<void>;
}

export interface SupervisorOptions {
  store: JobStore;
  config: Config;
  /** The script that runs a job of this type. */
  scriptFor: (type: string) => string;
  nodeArgs?: string[];
  log?: (message: string) => void;
}

export class Supervisor {
  readonly instanceId = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString("hex")}`;
  private readonly running = new Map<string, Running>();
  private readonly signalled = new Set<string>();
  private readonly env: Record<string, string>;
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private ticker: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: SupervisorOptions) {
    this.env = jobEnvironment(options.config);
    fs.mkdirSync(options.config.jobLogDir, { recursive: true });
  }

  get size(): number {
    return this.running.size;
  }

  /** Starts the periodic sweep; also takes any jobs already waiting. */
  start(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => void this.tick(), SWEEP_INTERVAL_MS);
    this.ticker.unref();
    void this.tick();
  }

  /** Stops taking jobs. Job processes keep running: they do not depend on this server. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const job of this.running.values()) {
      clearTimeout(job.timeout);
      if (job.killTimer) clearTimeout(job.killTimer);
    }
    await this.pumping;
  }

  /** Starts queued jobs while this instance has free slots. Safe to call often. */
  pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    this.pumping = (async () => {
      // Yield first: with every slot busy the body would otherwise finish (and
      // clear this.pumping) before this.pumping is assigned, blocking every later pump.
      await null;
      try {
        do {
          this.pumpAgain = false;
          while (!this.closed && this.running.size < this.options.config.jobConcurrency) {
            const claimed = await this.options.store.claim(this.instanceId, this.leaseMs);
            if (!claimed) break;
            this.startProcess(claimed.id, claimed.type);
          }
        } while (this.pumpAgain && !this.closed);
      } catch (err) {
        this.log(`could not take queued jobs: ${(err as Error).message}`);
      } finally {
        this.pumping = null;
      }
    })();
    return this.pumping;
  }

  private get leaseMs(): number {
    return 3 * this.options.config.jobHeartbeatMs;
  }

  private log(message: string): void {
    (this.options.log ?? ((m) => process.stderr.write(`${m}\n`)))(message);
  }

  private startProcess(id: string, type: string): void {
    const { config, store } = this.options;
    let launched;
    try {
      launched = launch({ id, script: this.options.scriptFor(type), logDir: config.jobLogDir, env: this.env, nodeArgs: this.options.nodeArgs });
    } catch (err) {
      void store
        .finish(id, "failed", "force", { error: "The job's process could not be started.", detail: (err as Error).message })
        .catch(() => {});
      return;
    }
    const { child, logFile } = launched;
    const pid = child.pid ?? 0;
    const exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        void this.recordExit(id, null, null, logFile, err.message).finally(resolve);
      });
      child.once("exit", (code, signal) => {
        void this.recordExit(id, code, signal, logFile).finally(resolve);
      });
    });
    const timeout = setTimeout(() => void this.timeOut(id), config.jobTimeoutMs);
    timeout.unref();
    this.running.set(id, { pid, timeout, exited });
  }

  private async recordExit(id: string, code: number | null, signal: NodeJS.Signals | null, logFile: string, spawnError?: string): Promise<void> {
    const job = this.running.get(id);
    if (job) {
      clearTimeout(job.timeout);
      if (job.killTimer) clearTimeout(job.killTimer);
    }
    this.running.delete(id);
    this.signalled.delete(id);
    try {
      // Whatever the script recorded stands: a finish on an ended job is a no-op.
      const error = spawnError
        ? "The job's process could not be started."
        : signal
          ? `The job's process was killed by ${signal}.`
          : code === 0
            ? "The job's process exited without recording a result."
            : `The job's process exited with code ${code}.`;
      const detail = spawnError ?? (await tail(logFile));
      await this.options.store.finish(id, "failed", "exit", { error, exitCode: code, signal, detail });
    } catch (err) {
      this.log(`could not record the end of job ${id}: ${(err as Error).message}`);
    }
    if (!this.closed) void this.pump();
  }

  private async timeOut(id: string): Promise<void> {
    const job = this.running.get(id);
    if (!job) return;
    const limit = formatDuration(this.options.config.jobTimeoutMs);
    try {
      await this.options.store.finish(id, "failed", "force", { error: `Timed out after ${limit}.` });
    } catch (err) {
      this.log(`could not record the time limit of job ${id}: ${(err as Error).message}`);
    }
    this.terminate(id);
  }

  /** SIGTERM to a local job's process group, then SIGKILL if it is still there. */
  private terminate(id: string): void {
    const job = this.running.get(id);
    if (!job || job.killTimer) return;
    signalGroup(job.pid, "SIGTERM");
    job.killTimer = setTimeout(() => signalGroup(job.pid, "SIGKILL"), TERM_TO_KILL_MS);
    job.killTimer.unref();
  }

  /** One round of housekeeping: lost jobs, overdue cancels, free slots. */
  async tick(): Promise<void> {
    if (this.closed) return;
    const { store } = this.options;
    try {
      const lost = await store.sweep();
      for (const id of lost) this.log(`job ${id} lost: its process stopped reporting`);
      for (const id of await store.dueKills()) {
        if (this.running.has(id)) this.terminate(id);
        else if (!this.signalled.has(id)) await this.terminateElsewhere(id);
      }
    } catch {
      // Redis unreachable: try again next tick.
    }
    await this.pump();
  }

  /**
   * A job that ignores its cancel request and whose server is gone: the
   * instance on the same host signals it, after checking that the pid still
   * belongs to that job's process (pids are reused).
   */
  private async terminateElsewhere(id: string): Promise<void> {
    const job = await this.options.store.read(id, "auto");
    if (!job?.pid || job.host !== os.hostname()) return;
    let cmdline = "";
    try {
      cmdline = fs.readFileSync(`/proc/${job.pid}/cmdline`, "utf8");
    } catch {
      return;
    }
    if (!cmdline.split("\0").includes(id)) return;
    this.signalled.add(id);
    const pid = job.pid;
    signalGroup(pid, "SIGTERM");
    setTimeout(() => signalGroup(pid, "SIGKILL"), TERM_TO_KILL_MS).unref();
  }

  /** Pids of the job processes this instance started that are still running. */
  pids(): number[] {
    return [...this.running.values()].map((job) => job.pid);
  }

  /** For tests: resolves when every job process this instance started has exited and been recorded. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((job) => job.exited));
  }
}

// The job processes this instance started: spawning one through the launcher,
// recording an end its script did not record (crash, kill, non-zero exit:
// exit code, signal and the tail of its log), and stopping one with an
// Escalation. A process that cannot be started for want of file
// descriptors (EMFILE, ENFILE) does not fail its job: the claim is given
// back and the job waits in the queue until descriptors are free again.
// At most JOB_SLOTS entries: slots.ts only starts a process
// while there is room, and an entry leaves when its process exits.
import { launch, tail } from "../launchers/local.ts";
import type { FinishReply, JobStore } from "../../jobs/core/store.ts";
import { Escalation } from "./kills.ts";

interface Running {
  pid: number;
  type: string;
  /** The job's attempt this process runs: its end is recorded for that attempt only. */
  attempt: number;
  escalation?: Escalation;
  exited: Promise<void>;
}

export interface ProcessesOptions {
  store: JobStore;
  logDir: string;
  env: Record<string, string>;
  scriptFor: (type: string) => string;
  nodeArgs?: string[];
  log: (message: string) => void;
  /** Called as soon as a process has exited, before its end is recorded. */
  onExit: (id: string) => void;
  /** This instance's id: the finish that records an exit takes the report of the end in the same call (FinishReply.report). */
  reportTo?: string;
  /**
   * Called once the end of a process has been recorded, with the reply of
   * that finish (null when Redis did not answer): it says whether this call
   * ended the job, took the report of the end its process recorded, or sent
   * the job back to the queue for another attempt, so that the end is
   * reported once. attempt: the attempt the process ran. Also called when a
   * spawn failed.
   */
  onRecorded: (id: string, reply: FinishReply | null, attempt: number) => Promise<void>;
  /**
   * A process could not be started for want of file descriptors: give the
   * job's claim back (it stays queued) and wait before starting more.
   */
  onNoDescriptors: (id: string, err: Error) => void;
  /** A process has started (so descriptors were found). */
  onStarted?: (id: string, type: string, pid: number) => void;
}

/** Errors of a spawn that will succeed later, once file descriptors are free again. */
export function isOutOfDescriptors(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "EMFILE" || code === "ENFILE";
}

export class Processes {
  private readonly running = new Map<string, Running>();
  /** Each process's exit, until its end is recorded. */
  private readonly unrecorded = new Set<Promise<void>>();

  constructor(private readonly options: ProcessesOptions) {}

  get size(): number {
    return this.running.size;
  }

  has(id: string): boolean {
    return this.running.has(id);
  }

  /** Processes of one job type running here. */
  countOf(type: string): number {
    let n = 0;
    for (const job of this.running.values()) if (job.type === type) n++;
    return n;
  }

  /**
   * Starts the job's process; false when it could not be started (the job is
   * recorded failed, or, out of file descriptors, given back to the queue).
   */
  start(id: string, type: string, attempt = 1): boolean {
    const { store, logDir, env, scriptFor, nodeArgs } = this.options;
    let launched;
    try {
      launched = launch({ id, attempt, script: scriptFor(type), logDir, env, nodeArgs });
    } catch (err) {
      if (isOutOfDescriptors(err)) {
        this.options.onNoDescriptors(id, err as Error);
        return false;
      }
      void store
        .finish(id, "failed", "force", { reason: "spawn-failed", detail: (err as Error).message }, attempt)
        .catch(() => null)
        .then((reply) => this.options.onRecorded(id, reply, attempt));
      return false;
    }
    const { child, logFile } = launched;
    const pid = child.pid ?? 0;
    // Without descriptors Node reports the failed spawn as an error event, with no pid.
    if (pid > 0) this.options.onStarted?.(id, type, pid);
    const exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        if (!child.pid && isOutOfDescriptors(err)) {
          this.running.delete(id);
          this.options.onExit(id);
          this.options.onNoDescriptors(id, err);
          resolve();
          return;
        }
        void this.recordExit(id, attempt, null, null, logFile, err.message).finally(resolve);
      });
      child.once("exit", (code, signal) => {
        void this.recordExit(id, attempt, code, signal, logFile).finally(resolve);
      });
    });
    this.running.set(id, { pid, type, attempt, exited });
    // Out of `running` once it has exited, but not recorded yet: idle() waits for it too.
    this.unrecorded.add(exited);
    void exited.then(() => this.unrecorded.delete(exited));
    return true;
  }

  /** SIGTERM to a local job's process group, then SIGKILL if it is still there. Once per process. */
  terminate(id: string): void {
    const job = this.running.get(id);
    if (!job || job.escalation) return;
    job.escalation = new Escalation(job.pid);
  }

  private async recordExit(
    id: string,
    attempt: number,
    code: number | null,
    signal: NodeJS.Signals | null,
    logFile: string,
    spawnError?: string,
  ): Promise<void> {
    // The process of an attempt that was recorded lost may exit after the next attempt started here: that one's entry stays.
    const entry = this.running.get(id);
    if (entry?.attempt === attempt) {
      entry.escalation?.cancel();
      this.running.delete(id);
      this.options.onExit(id);
    }
    let reply: FinishReply | null = null;
    try {
      // Whatever the script recorded stands: a finish on an ended job (or on
      // its next attempt) changes nothing, and takes the report of the end
      // the job's process recorded.
      const reason = spawnError ? "spawn-failed" : signal ? "signal" : code === 0 ? "no-result" : "exit-code";
      const detail = spawnError ?? (await tail(logFile));
      reply = await this.options.store.finish(
        id,
        "failed",
        "exit",
        { reason, exitCode: code, signal, detail },
        attempt,
        this.options.reportTo,
      );
    } catch (err) {
      // The end the process recorded, if any, waits for this instance's take (onRecorded with null), or a sweep's.
      this.options.log(`could not record the end of job ${id}: ${(err as Error).message}`);
    }
    await this.options.onRecorded(id, reply, attempt);
  }

  /** Stops every escalation in flight; the processes themselves run on. */
  close(): void {
    for (const job of this.running.values()) job.escalation?.cancel();
  }

  /** Pids of the job processes this instance started that are still running. */
  pids(): number[] {
    return [...this.running.values()].map((job) => job.pid);
  }

  /** Resolves when every job process started here has exited and been recorded. */
  async idle(): Promise<void> {
    while (this.unrecorded.size > 0) await Promise.all([...this.unrecorded]);
  }
}

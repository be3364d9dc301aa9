// Stopping job processes with signals:
// - Escalation: SIGTERM to a job's process group, then SIGKILL after
//   TERM_TO_KILL_MS unless the group is gone by then; cancellable.
// - RemoteKills: a job whose cancel grace has run out but which this instance
//   did not start (its server is gone). The instance on the same host signals
//   it, after checking through /proc that the pid still runs that job.
// Local processes are stopped by processes.ts, with an Escalation.
import os from "node:os";
import { signalGroup } from "../launchers/local.ts";
import { readArgv } from "../procfs.ts";
import type { JobStore } from "../../jobs/core/store.ts";

/** Between SIGTERM and SIGKILL. */
export const TERM_TO_KILL_MS = 2000;
/** How often an escalation checks whether the process group has ended. */
export const GONE_CHECK_MS = 100;
/** At most this many remote kills in flight; more wait for a later sweep. */
export const MAX_REMOTE_KILLS = 1000;

/** How an escalation ended: the group was gone before SIGKILL, SIGKILL was sent, or cancel(). */
export type EscalationEnd = "gone" | "killed" | "cancelled";

/** True while a process group has a member (one we may not signal counts). */
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** SIGTERM to the process group led by `pid` now, SIGKILL after `termToKillMs` if it is still there. */
export class Escalation {
  readonly ended: Promise<EscalationEnd>;
  private resolve!: (end: EscalationEnd) => void;
  private done = false;
  private killTimer?: NodeJS.Timeout;
  private goneCheck?: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    { termToKillMs = TERM_TO_KILL_MS, goneCheckMs = GONE_CHECK_MS } = {},
  ) {
    this.ended = new Promise((resolve) => (this.resolve = resolve));
    // pid 0 (a process that never started) would signal this server's own group.
    if (pid <= 0 || !signalGroup(pid, "SIGTERM")) {
      this.end("gone");
      return;
    }
    this.killTimer = setTimeout(() => this.end(signalGroup(pid, "SIGKILL") ? "killed" : "gone"), termToKillMs);
    this.killTimer.unref();
    this.goneCheck = setInterval(() => {
      if (!groupExists(pid)) this.end("gone");
    }, goneCheckMs);
    this.goneCheck.unref();
  }

  /** Stops the escalation without sending SIGKILL. */
  cancel(): void {
    this.end("cancelled");
  }

  private end(how: EscalationEnd): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.killTimer);
    clearInterval(this.goneCheck);
    this.resolve(how);
  }
}

export interface RemoteKillsOptions {
  store: JobStore;
  log: (message: string) => void;
  /** Cap on kills in flight (MAX_REMOTE_KILLS). */
  max?: number;
}

/**
 * Kills of jobs started by another instance. A job is remembered only while
 * it is being checked or its escalation runs, so the map holds at most `max`
 * entries, each for about TERM_TO_KILL_MS. A job that is still due afterwards
 * (it has not left the kills index yet) is checked again: its pid no longer
 * runs it, so it is not signalled twice.
 */
export class RemoteKills {
  /** Job id → its escalation, or null while the job is being checked. */
  private readonly inFlight = new Map<string, Escalation | null>();
  private readonly max: number;
  private full = false;
  private closed = false;

  constructor(private readonly options: RemoteKillsOptions) {
    this.max = options.max ?? MAX_REMOTE_KILLS;
  }

  get size(): number {
    return this.inFlight.size;
  }

  /** Kills under way: their signals sent or being sent (not the jobs still being checked). */
  get started(): number {
    let n = 0;
    for (const escalation of this.inFlight.values()) if (escalation) n += 1;
    return n;
  }

  /** Signals a due job's process if it runs on this host; a no-op if it is already being killed. */
  async kill(id: string): Promise<void> {
    if (this.closed || this.inFlight.has(id)) return;
    if (this.inFlight.size >= this.max) {
      if (!this.full) this.options.log(`${this.inFlight.size} kills in flight; more wait for the next sweep`);
      this.full = true;
      return;
    }
    this.full = false;
    this.inFlight.set(id, null);
    try {
      const job = await this.options.store.read(id, "auto");
      if (!job?.pid || job.host !== os.hostname() || this.closed) return;
      if (!readArgv(job.pid)?.includes(id)) return;
      const escalation = new Escalation(job.pid);
      this.inFlight.set(id, escalation);
      void escalation.ended.then(() => {
        if (this.inFlight.get(id) === escalation) this.inFlight.delete(id);
      });
    } finally {
      if (this.inFlight.get(id) === null) this.inFlight.delete(id);
    }
  }

  /** Cancels every escalation in flight (no SIGKILL follows). */
  close(): void {
    this.closed = true;
    for (const escalation of this.inFlight.values()) escalation?.cancel();
    this.inFlight.clear();
  }
}

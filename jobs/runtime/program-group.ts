// The processes of a command job's program: the program and whatever it
// started, found through their process group in /proc, so that a stop
// reaches all of them and a job leaves no process behind.
import fs from "node:fs";
import type { ChildProcess } from "node:child_process";
import { signalEach } from "../core/signals.ts";

/** The process group of a process, from /proc (null when it cannot be read). */
function groupOf(pid: number | "self"): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
  } catch {
    return null;
  }
}

/** Live members of a process group other than this process. */
function otherMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // it ended while we looked
    }
  }
  return pids;
}

/** The program and whatever it started: the runner's group without the runner, or the program's own group. */
export class ProgramGroup {
  /** True when the runner leads its own group and the program shares it. */
  readonly shared: boolean;
  child: ChildProcess | null = null;

  /** ownGroup: the program gets a group of its own in any case (the box's wrappers are not signalled with the runner). */
  constructor(ownGroup = false) {
    this.shared = !ownGroup && groupOf("self") === process.pid;
  }

  /** Signals every member but those excepted (the box's wrappers); false when there was none left. */
  signal(sig: NodeJS.Signals, except: ReadonlySet<number> = new Set()): boolean {
    if (this.shared || except.size > 0) {
      const pgid = this.shared ? process.pid : this.child?.pid;
      if (!pgid) return false;
      return signalEach(otherMembers(pgid), sig, except);
    }
    const pid = this.child?.pid;
    if (!pid) return false;
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** Nothing of the program is left. */
  empty(): boolean {
    if (this.shared) return otherMembers(process.pid).length === 0;
    const pid = this.child?.pid;
    if (!pid) return true;
    try {
      process.kill(-pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}

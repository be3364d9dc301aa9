// Looking at processes from the outside, through /proc: which are alive,
// which run in a folder (an app's job processes), what CPU and memory they used.
import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** Fields of /proc/<pid>/stat after the command name: [0] is the state, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number | "self"): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Every process's pid, as /proc lists them now. */
function allPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** A process that exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    return statFields(pid)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Live processes whose working directory is dir or below it: an app's job processes run in its log folder. */
export function processesIn(dir: string): number[] {
  return allPids().filter((pid) => {
    if (pid === process.pid) return false;
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      return (cwd === dir || cwd.startsWith(`${dir}/`)) && isAlive(pid);
    } catch {
      return false; // gone, or not ours to read
    }
  });
}

/** Kills every process processesIn(dir) finds; returns how many. */
export function killProcessesIn(dir: string): number {
  const pids = processesIn(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // it ended meanwhile
    }
  }
  return pids.length;
}

/** CPU time (ms, user + system) a process has used so far. */
export function cpuMsOf(pid: number): number {
  const fields = statFields(pid);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
}

/** CPU time (ms) of this process' reaped children (cutime + cstime). */
export function childrenCpuMs(): number {
  const fields = statFields("self");
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / clockTicks();
}

/** PSS and RSS in kB of one process, from /proc/<pid>/smaps_rollup. */
export function memoryOf(pid: number): { pssKb: number; rssKb: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
    return { pssKb: field("Pss"), rssKb: field("Rss") };
  } catch {
    return null;
  }
}

let ticksPerSecond: number | null = null;
function clockTicks(): number {
  // getconf CLK_TCK; 100 on every Linux this runs on, but ask once to be sure.
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** The live children of a process. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/** Live processes of a command job: those whose environment names it (SIDEJOB_JOB_ID), its program's and their children's. */
export function processesOfJob(id: string): number[] {
  const mark = `\0SIDEJOB_JOB_ID=${id}\0`;
  return allPids().filter((pid) => {
    try {
      return `\0${fs.readFileSync(`/proc/${pid}/environ`, "latin1")}`.includes(mark) && isAlive(pid);
    } catch {
      return false; // gone
    }
  });
}

/**
 * The host's pid of a job's process that told its own pid: in a PID
 * namespace of its own (bubblewrap), a program's pid is not the host's.
 */
export function hostPidOf(id: string, ownPid: number): number | null {
  for (const pid of processesOfJob(id)) {
    try {
      const nspid = /^NSpid:\s+(.*)$/m
        .exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
        ?.trim()
        .split(/\s+/);
      if (nspid && Number(nspid.at(-1)) === ownPid) return pid;
    } catch {
      // gone
    }
  }
  return null;
}

/** The live descendants of a process: its children, theirs, and so on (a program behind its box's wrappers). */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of childrenOf(queue.shift()!)) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

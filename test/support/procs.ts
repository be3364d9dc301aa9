// Looking at processes from the outside, through /proc: which job processes
// are alive, which run in a folder, and what CPU and memory they used.
import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** Fields of /proc/<pid>/stat after the command name: [0] is the state, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number | "self"): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Every process's pid, as /proc lists them now. */
function allPids(): number[] {
  return fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number);
}

/** A process that exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    return statFields(pid)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Pids of live processes whose argv contains one of the given job ids. */
export function jobProcesses(ids: ReadonlySet<string>): number[] {
  return allPids().filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").some((arg) => ids.has(arg)) && isAlive(pid);
    } catch {
      return false; // it ended while we looked
    }
  });
}

/** Kills every process whose working directory is dir or below it (job processes run in their log folder). */
export function killProcessesIn(dir: string): number {
  let killed = 0;
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) {
        process.kill(pid, "SIGKILL");
        killed += 1;
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
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

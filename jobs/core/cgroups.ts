// A job's control group: the kernel's account of the program and everything
// it starts, whatever it does to leave its process group (a new session, a
// double fork). It bounds their memory and their number together, measures
// their peak memory and CPU time, and kills them all at once
// (docs/job-types.md, "Limits and isolation").
//
// Both kinds of hosts are handled:
// - cgroup v2 (one hierarchy, systemd's hosts): the jobs' cgroups are made
//   under the server's own, which must be delegated to it (systemd:
//   Delegate=yes; deploy/sidejob.service). The server moves itself into a
//   leaf of its own ("server") so that its cgroup may enable controllers for
//   its children.
// - cgroup v1 (a hierarchy per controller): under the server's cgroup of the
//   memory, pids and cpuacct hierarchies, in a folder "sidejob".
// Where neither is writable, there is none: the limits are rlimits only
// (jobs/runtime/box.ts says what that loses).
import fs from "node:fs";
import path from "node:path";
import { signalEach } from "./signals.ts";

/** Where jobs' cgroups are made: the parent folder of each, per hierarchy. */
export type CgroupHost = { version: 2; dir: string } | { version: 1; memory: string | null; pids: string | null; cpuacct: string | null };

const V1_CONTROLLERS = ["memory", "pids", "cpuacct"] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

const read = (file: string): string | null => {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
};

/** "oom_kill 3" from a flat keyed file (memory.events, pids.events, memory.oom_control). */
function keyed(text: string | null, key: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, "m").exec(text ?? "");
  return match ? Number(match[1]) : 0;
}

/** The cgroup mounts of this host: for v2, its mount point; for v1, each controller's. */
function mounts(): { v2: string | null; v1: Map<string, string> } {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of (read("/proc/self/mountinfo") ?? "").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = left.split(" ")[4]!;
    const [fstype, , superOptions = ""] = right.split(" ");
    if (fstype === "cgroup2") v2 ??= mountPoint;
    if (fstype === "cgroup") for (const option of superOptions.split(",")) if (!v1.has(option)) v1.set(option, mountPoint);
  }
  return { v2, v1 };
}

/** This process's cgroup in each hierarchy: "" for v2's, else by controller. */
function ownCgroups(pid: number | "self" = "self"): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of (read(`/proc/${pid}/cgroup`) ?? "").split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, controllers, where] = match;
    if (controllers === "") own.set("", where!);
    for (const c of controllers!.split(",")) if (c) own.set(c, where!);
  }
  return own;
}

const writable = (dir: string) => {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(path.join(dir, "cgroup.procs"), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The jobs' cgroups' home on this host, made ready (the server calls it
 * once, at start), or null when the host offers none this process may write.
 */
export function findCgroups(): CgroupHost | null {
  const { v2, v1 } = mounts();
  const own = ownCgroups();
  // v2 first, when it has the controllers (a hybrid host's v2 mount often has none).
  const where = own.get("");
  if (v2 && where !== undefined) {
    const dir = path.join(v2, where);
    const controllers = (read(path.join(dir, "cgroup.controllers")) ?? "").split(/\s+/);
    if (controllers.includes("memory") && controllers.includes("pids") && delegateV2(dir)) return { version: 2, dir };
  }
  const found: Record<V1Controller, string | null> = { memory: null, pids: null, cpuacct: null };
  for (const controller of V1_CONTROLLERS) {
    const mount = v1.get(controller);
    const at = own.get(controller);
    if (!mount || at === undefined) continue;
    const dir = path.join(mount, at, "sidejob");
    if (writable(dir)) found[controller] = dir;
  }
  const host: CgroupHost | null = found.memory || found.pids ? { version: 1, ...found } : null;
  if (host) sweepJobCgroups(host);
  return host;
}

/** A job's cgroup's name: its id, its attempt, and its runner's pid (jobs/runtime/box.ts). */
const JOB_CGROUP = /^[0-9a-f]{32}-\d+-(\d+)$/;

/**
 * Removes the jobs' cgroups whose runner is gone (killed before it could
 * remove its own): only empty ones go (rmdir refuses a cgroup that holds a
 * process), and never one whose runner still runs.
 */
function sweepJobCgroups(host: CgroupHost): void {
  const parents = host.version === 2 ? [host.dir] : [host.memory, host.pids, host.cpuacct].filter((d): d is string => d !== null);
  for (const parent of parents) {
    let names: string[];
    try {
      names = fs.readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const pid = JOB_CGROUP.exec(name)?.[1];
      if (!pid || fs.existsSync(`/proc/${pid}`)) continue;
      try {
        fs.rmdirSync(path.join(parent, name));
      } catch {
        // not empty: its processes are still being killed; the next start tries again
      }
    }
  }
}

/**
 * Makes a v2 cgroup able to hold jobs' cgroups with the memory, pids and cpu
 * controllers: a cgroup with processes may not enable controllers for its
 * children, so this process (and the runners it started) move to its leaf
 * "server" first.
 */
function delegateV2(dir: string): boolean {
  const enable = () => fs.writeFileSync(path.join(dir, "cgroup.subtree_control"), "+memory +pids +cpu");
  try {
    try {
      enable();
    } catch {
      const leaf = path.join(dir, "server");
      fs.mkdirSync(leaf, { recursive: true });
      for (const pid of (read(path.join(dir, "cgroup.procs")) ?? "").split("\n").filter(Boolean))
        fs.writeFileSync(path.join(leaf, "cgroup.procs"), pid);
      enable();
    }
    return true;
  } catch {
    return false;
  }
}

export interface CgroupLimits {
  memoryBytes: number | null;
  processes: number | null;
}

/** One job's cgroup (in each v1 hierarchy, or the one v2 folder). */
export class JobCgroup {
  private constructor(
    private readonly host: CgroupHost,
    /** The job's folder per controller ("" for v2). */
    private readonly dirs: Map<string, string>,
  ) {}

  /** Makes the job's cgroup (name: unique on the host) with its memory limit; null when it could not be made. */
  static create(host: CgroupHost, name: string, limits: CgroupLimits): JobCgroup | null {
    const dirs = new Map<string, string>();
    if (host.version === 2) dirs.set("", path.join(host.dir, name));
    else for (const c of V1_CONTROLLERS) if (host[c]) dirs.set(c, path.join(host[c], name));
    const group = new JobCgroup(host, dirs);
    try {
      for (const dir of dirs.values()) fs.mkdirSync(dir);
      if (limits.memoryBytes !== null) {
        const bytes = String(limits.memoryBytes);
        if (host.version === 2) {
          group.write("", "memory.max", bytes);
          group.write("", "memory.swap.max", "0", true);
        } else if (dirs.has("memory")) {
          group.write("memory", "memory.limit_in_bytes", bytes);
          // No swap beyond it (where swap is accounted).
          group.write("memory", "memory.memsw.limit_in_bytes", bytes, true);
        }
      }
      return group;
    } catch {
      group.remove();
      return null;
    }
  }

  get hasMemory(): boolean {
    return this.dirs.has("") || this.dirs.has("memory");
  }

  get hasPids(): boolean {
    return this.dirs.has("") || this.dirs.has("pids");
  }

  private write(controller: string, file: string, value: string, optional = false): void {
    const dir = this.dirs.get(controller);
    if (!dir) return;
    try {
      fs.writeFileSync(path.join(dir, file), value);
    } catch (err) {
      if (!optional) throw err;
    }
  }

  private readOf(controller: string, file: string): string | null {
    const dir = this.dirs.get(controller);
    return dir ? read(path.join(dir, file)) : null;
  }

  /**
   * Runs spawn() from inside the job's cgroup, so that the child it forks is
   * born there (and all its descendants), then returns this process to where
   * it was. The process limit is set after, so this process's own threads
   * never count against it.
   */
  spawnInside<T>(spawn: () => T, processes: number | null): T {
    const { v2, v1 } = mounts();
    const back = ownCgroups();
    const returns: string[] = [];
    for (const controller of this.dirs.keys()) {
      const root = controller === "" ? v2 : v1.get(controller);
      const at = back.get(controller);
      if (root && at !== undefined) returns.push(path.join(root, at, "cgroup.procs"));
    }
    for (const dir of this.dirs.values()) fs.writeFileSync(path.join(dir, "cgroup.procs"), String(process.pid));
    try {
      return spawn();
    } finally {
      for (const file of returns) fs.writeFileSync(file, String(process.pid));
      if (processes !== null) this.write(this.host.version === 2 ? "" : "pids", "pids.max", String(processes));
    }
  }

  /** The job's processes, as the kernel counts them. */
  pids(): number[] {
    const controller = this.dirs.has("") ? "" : this.dirs.has("pids") ? "pids" : this.dirs.keys().next().value!;
    return (this.readOf(controller, "cgroup.procs") ?? "").split("\n").filter(Boolean).map(Number);
  }

  /** Sends a signal to every process of the job but those excepted; false when there was none. */
  signal(sig: NodeJS.Signals, except: ReadonlySet<number> = new Set()): boolean {
    if (sig === "SIGKILL" && except.size === 0 && this.host.version === 2 && this.dirs.has("")) {
      const had = this.pids().length > 0;
      try {
        this.write("", "cgroup.kill", "1");
        return had;
      } catch {
        // an older kernel: one by one, below
      }
    }
    return signalEach(this.pids(), sig, except);
  }

  /** Kills every process of the job until none is left (a fork races a kill; the kill wins within a few rounds). */
  async killAll(deadlineMs = 5000): Promise<boolean> {
    const until = Date.now() + deadlineMs;
    while (Date.now() < until) {
      this.signal("SIGKILL");
      if (this.pids().length === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.pids().length === 0;
  }

  /** Times the kernel killed a process of the job for want of memory. */
  oomKills(): number {
    return this.host.version === 2
      ? keyed(this.readOf("", "memory.events"), "oom_kill")
      : keyed(this.readOf("memory", "memory.oom_control"), "oom_kill");
  }

  /** Times a fork of the job was refused at its process limit. */
  processLimitHits(): number {
    return keyed(this.readOf(this.host.version === 2 ? "" : "pids", "pids.events"), "max");
  }

  /** The job's peak memory (bytes), or null when not counted. */
  peakMemory(): number | null {
    const text = this.host.version === 2 ? this.readOf("", "memory.peak") : this.readOf("memory", "memory.max_usage_in_bytes");
    return text === null ? null : Number(text.trim());
  }

  /** The job's CPU time, user and system (ms), or null when not counted. */
  cpuMs(): number | null {
    if (this.host.version === 2) {
      const text = this.readOf("", "cpu.stat");
      return text === null ? null : keyed(text, "usage_usec") / 1000;
    }
    const text = this.readOf("cpuacct", "cpuacct.usage");
    return text === null ? null : Number(text.trim()) / 1e6;
  }

  /** Removes the job's cgroup (once it is empty; a few tries while the last processes are reaped). */
  remove(): void {
    for (const dir of this.dirs.values()) {
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(dir);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") break;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        }
      }
    }
  }
}

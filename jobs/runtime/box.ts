// A command job's box: what its program may use and what it sees of the host
// (docs/job-types.md, "Limits and isolation").
//
// - Limits, enforced by the kernel:
//   - the job's cgroup (jobs/runtime/cgroup.ts), where the host offers one:
//     memory and processes of the whole job, its peak memory and CPU time,
//     and a kill that reaches every descendant;
//   - rlimits, set by prlimit(1) in front of the program and inherited by
//     everything it starts: CPU seconds, file size and open files of each
//     process; the address space and RLIMIT_NPROC stand in for the memory and
//     process limits where there is no cgroup;
//   - the output folder's size is watched by the runner.
// - Isolation (bubblewrap, when installed and working for the job's user):
//   every program runs in a PID namespace of its own (it sees no other
//   process of the host, and all it started dies with it); a type's
//   isolation adds no network (a network namespace with only loopback) and a
//   private filesystem view (the system read-only, its own folders only).
// - Its user: when the server runs as root, programs run as JOB_USER (an
//   unprivileged user; default nobody), never as root.
//
// The server finds what the host offers once, at start (jobs/core/host-box.ts),
// and passes it to each runner in SIDEJOB_BOX.
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BoxLimits, Isolation, JobType } from "../core/job-type.ts";
import type { EndReason, JobUsage } from "../core/store/record.ts";
import type { BoxSettings } from "../core/settings.ts";
import { JobCgroup } from "../core/cgroups.ts";
import type { HostBox } from "../core/host-box.ts";

const MiB = 1024 * 1024;
/** How often a running job's cgroup events and output folder are looked at (ms). */
const WATCH_MS = 200;

/** A job's limits, every one a number (0: none). */
export type Limits = Required<BoxLimits>;

/**
 * The limits of one attempt: the type's, else the instance's; attempt 2 on, a resubmit's memory. A Slurm
 * type's memory is Slurm's to enforce (sbatch --mem, server/launchers/slurm.ts): none here.
 */
export function limitsOf(type: Pick<JobType, "limits" | "resubmit" | "runOn">, attempt: number, settings: BoxSettings): Limits {
  const own = type.limits ?? {};
  const memoryMB = attempt > 1 && type.resubmit?.memoryMB !== undefined ? type.resubmit.memoryMB : (own.memoryMB ?? settings.jobMemoryMB);
  return {
    memoryMB: type.runOn === "slurm" ? 0 : memoryMB,
    cpuSeconds: own.cpuSeconds ?? settings.jobCpuSeconds,
    processes: own.processes ?? settings.jobProcesses,
    fileSizeMB: own.fileSizeMB ?? settings.jobFileSizeMB,
    outputMB: own.outputMB ?? settings.jobOutputMB,
    openFiles: own.openFiles ?? settings.jobOpenFiles,
  };
}

/** How a program's process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Sizes of the regular files under a folder, walked (at most `limit` entries). */
function folderBytes(dir: string, limit = 10_000): { total: number; largest: number } {
  let total = 0;
  let largest = 0;
  let seen = 0;
  const walk = (at: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (++seen > limit) return;
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        try {
          const size = fs.lstatSync(full).size;
          total += size;
          largest = Math.max(largest, size);
        } catch {
          // gone
        }
      }
    }
  };
  walk(dir);
  return { total, largest };
}

/** The folder under which each job's folders are made: not listable by the jobs (root's, 0711) when they run as another user. */
function jobsParent(host: HostBox): string {
  const parent = path.join(os.tmpdir(), "sidejob-jobs");
  try {
    fs.mkdirSync(parent, { mode: 0o711 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const stat = fs.lstatSync(parent);
  // Another user's folder, or a link planted in a shared /tmp: not used.
  if (!stat.isDirectory() || stat.uid !== process.getuid?.()) return fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-jobs-"));
  if ((stat.mode & 0o777) !== (host.user ? 0o711 : 0o700)) fs.chmodSync(parent, host.user ? 0o711 : 0o700);
  return parent;
}

/** One job's box: its folders, its cgroup, its command line, what it used. */
export class Box {
  readonly base: string;
  /** The program's working folder and HOME. */
  readonly home: string;
  readonly outputDir: string;
  /** Where its inputs copied from Redis go. */
  readonly inputDir: string;
  private readonly cgroup: JobCgroup | null;
  private readonly inputs: string[] = [];
  private watcher: NodeJS.Timeout | null = null;
  private child: ChildProcess | null = null;
  /** The limit the watch found passed, once. */
  private hit: EndReason | null = null;
  /** Sampled where there is no cgroup: the most memory and CPU seen. */
  private sampled = { peak: 0, cpuMs: 0 };

  constructor(
    readonly host: HostBox,
    readonly limits: Limits,
    readonly isolation: Required<Isolation>,
    id: string,
    attempt: number,
    /** The type's folder of "./" programs (bound read-only into a private view). */
    private readonly typeDir: string,
  ) {
    this.base = fs.mkdtempSync(path.join(jobsParent(host), `${id}-`));
    this.home = path.join(this.base, "work");
    this.outputDir = path.join(this.base, "output");
    this.inputDir = path.join(this.base, "input");
    for (const dir of [this.home, this.outputDir]) fs.mkdirSync(dir, { mode: 0o700 });
    this.own(this.base);
    this.own(this.home);
    this.own(this.outputDir);
    this.cgroup = host.cgroup
      ? JobCgroup.create(host.cgroup, `${id}-${attempt}-${process.pid}`, {
          memoryBytes: limits.memoryMB > 0 ? limits.memoryMB * MiB : null,
          processes: limits.processes > 0 ? limits.processes : null,
        })
      : null;
  }

  /** Hands a file or folder to the job's user. */
  private own(file: string): void {
    if (this.host.user) fs.chownSync(file, this.host.user.uid, this.host.user.gid);
  }

  /**
   * An input file, readable by the program: a copy made here is handed to
   * its user; a stored file (FILE_STORE_DIR) that its user cannot read is
   * linked here and made readable (the store's folders stay closed to
   * everyone else), or copied when the store is on another filesystem.
   * Returns the path the program gets.
   */
  input(file: string): string {
    if (file.startsWith(this.base + path.sep)) {
      this.own(path.dirname(file));
      this.own(file);
      this.inputs.push(file);
      return file;
    }
    if (!this.host.user) {
      this.inputs.push(file);
      return file;
    }
    fs.mkdirSync(this.inputDir, { recursive: true, mode: 0o700 });
    this.own(this.inputDir);
    const here = path.join(this.inputDir, path.basename(path.dirname(file)) + "-" + path.basename(file));
    try {
      fs.linkSync(file, here);
      fs.chmodSync(here, 0o444);
    } catch {
      fs.copyFileSync(file, here, fs.constants.COPYFILE_FICLONE);
      this.own(here);
      fs.chmodSync(here, 0o400);
    }
    this.inputs.push(here);
    return here;
  }

  /** The command line that runs argv in the box. */
  command(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
    const out: string[] = [];
    const { limits, host } = this;
    if (host.prlimit) {
      out.push(host.prlimit, "--core=0");
      if (limits.cpuSeconds > 0) out.push(`--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 2}`);
      if (limits.fileSizeMB > 0) out.push(`--fsize=${limits.fileSizeMB * MiB}`);
      if (limits.openFiles > 0) out.push(`--nofile=${limits.openFiles}`);
      // Without a cgroup: the address space for memory, the user's processes for processes (weaker: see the docs).
      if (limits.memoryMB > 0 && !this.cgroup?.hasMemory) out.push(`--as=${limits.memoryMB * MiB}`);
      if (limits.processes > 0 && !this.cgroup?.hasPids) out.push(`--nproc=${limits.processes}`);
      out.push("--");
    }
    if (host.bwrap) out.push(host.bwrap, ...this.bwrapArgs(argv, env), "--");
    out.push(...argv);
    return out;
  }

  private bwrapArgs(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
    const args = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"];
    if (!this.isolation.network) args.push("--unshare-net");
    if (this.isolation.filesystem === "host") {
      args.push("--bind", "/", "/", "--proc", "/proc", "--dev", "/dev");
      return args;
    }
    // A fresh /proc, /dev and /tmp first: the binds below may be under /tmp (a job's folders, a type's).
    args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
    const bound: string[] = [];
    const under = (p: string) => bound.some((b) => p === b || p.startsWith(b + path.sep));
    const roBind = (p: string) => {
      if (under(p) || !this.reachable(p)) return;
      let real: string;
      try {
        real = fs.realpathSync(p);
      } catch {
        return;
      }
      const stat = fs.lstatSync(p);
      if (stat.isSymbolicLink()) {
        // /bin -> usr/bin on a merged /usr: the same link inside.
        args.push("--symlink", fs.readlinkSync(p), p);
        bound.push(p);
        if (!under(real)) {
          args.push("--ro-bind", real, real);
          bound.push(real);
        }
        return;
      }
      args.push("--ro-bind", p, p);
      bound.push(p);
    };
    for (const dir of ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"]) roBind(dir);
    // The programs on PATH, and the type's own.
    for (const dir of (env.PATH ?? "").split(":")) if (dir && path.isAbsolute(dir)) roBind(dir);
    if (argv[0] && path.isAbsolute(argv[0])) roBind(path.dirname(argv[0]));
    roBind(this.typeDir);
    args.push("--bind", this.home, this.home, "--bind", this.outputDir, this.outputDir);
    for (const file of this.inputs) args.push("--ro-bind", file, file);
    args.push("--chdir", this.home);
    return args;
  }

  /** Whether the job's user may reach a path (search permission on each folder above it): bubblewrap binds it as that user. */
  private reachable(p: string): boolean {
    const user = this.host.user;
    if (!user) return true;
    let dir = path.dirname(path.resolve(p));
    for (;;) {
      try {
        const stat = fs.statSync(dir);
        const bit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
        if ((stat.mode & bit) === 0) return false;
      } catch {
        return false;
      }
      if (dir === "/") return true;
      dir = path.dirname(dir);
    }
  }

  /** The user the program runs as (spawn's uid and gid), when not the server's. */
  get spawnUser(): { uid: number; gid: number } | Record<string, never> {
    return this.host.user ? { uid: this.host.user.uid, gid: this.host.user.gid } : {};
  }

  /** Starts the program (spawn()) inside the job's cgroup, and watches its limits; onLimit: a limit was passed (once). */
  start<C extends ChildProcess>(spawn: () => C, onLimit: (reason: EndReason) => void): C {
    const processes = this.limits.processes > 0 ? this.limits.processes : null;
    const child = this.cgroup ? this.cgroup.spawnInside(spawn, processes) : spawn();
    this.child = child;
    const oomBefore = this.cgroup?.oomKills() ?? 0;
    this.watcher = setInterval(() => {
      const found = this.passed(oomBefore);
      if (!this.cgroup) this.sample();
      if (found && !this.hit) {
        this.hit = found;
        onLimit(found);
      }
    }, WATCH_MS);
    this.watcher.unref();
    return child;
  }

  /** A limit the job has passed, as the kernel and its folders tell. */
  private passed(oomBefore = 0): EndReason | null {
    if (this.cgroup && this.cgroup.oomKills() > oomBefore) return "memory-limit";
    if (this.cgroup && this.cgroup.processLimitHits() > 0) return "process-limit";
    if (this.limits.outputMB > 0 && folderBytes(this.outputDir).total > this.limits.outputMB * MiB) return "output-limit";
    return null;
  }

  /** Without a cgroup: the program's memory and CPU from /proc (its own process and those of its group). */
  private sample(): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      this.sampled.peak = Math.max(this.sampled.peak, hwm);
      this.sampled.cpuMs = Math.max(this.sampled.cpuMs, (ticks * 1000) / 100);
    } catch {
      // it ended
    }
  }

  /** Sends a signal to every process of the job (its cgroup's) but those excepted; false when there was none (or no cgroup). */
  signal(sig: NodeJS.Signals, except: ReadonlySet<number> = new Set()): boolean {
    return this.cgroup?.signal(sig, except) ?? false;
  }

  /**
   * bubblewrap's own processes in front of the program (its monitor, the
   * started child, and its init in the namespace): a SIGTERM meant for the
   * program must not reach them, or they would end it at once (SIGKILL, as
   * their parent died) instead of letting it stop by itself.
   */
  wrappers(): Set<number> {
    const out = new Set<number>();
    const top = this.child?.pid;
    if (!this.host.bwrap || !top) return out;
    const walk = (pid: number) => {
      let comm: string;
      try {
        comm = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      } catch {
        return;
      }
      if (comm !== "bwrap") return;
      out.add(pid);
      for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
          if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) walk(Number(entry));
        } catch {
          // gone
        }
      }
    };
    walk(top);
    return out;
  }

  /**
   * Why the program ended, when a limit ended it: what the watch saw, the
   * kernel's counts, the signal of an rlimit (SIGXCPU, SIGXFSZ; through
   * bubblewrap, 128 + the signal), or a file that reached the size limit.
   */
  limitReason(exit: Exit): EndReason | null {
    this.stopWatch();
    if (this.hit) return this.hit;
    const passed = this.passed();
    if (passed) return passed;
    if (exit.code === 0 && !exit.signal) return null;
    const signal = exit.signal ?? (this.host.bwrap && exit.code !== null && exit.code > 128 ? signalName(exit.code - 128) : null);
    const usage = this.usage();
    if (signal === "SIGXCPU") return "cpu-limit";
    if (signal === "SIGKILL" && this.limits.cpuSeconds > 0 && usage && usage.cpuMs >= this.limits.cpuSeconds * 1000) return "cpu-limit";
    if (signal === "SIGXFSZ") return "file-size-limit";
    if (this.limits.fileSizeMB > 0) {
      const bytes = this.limits.fileSizeMB * MiB;
      if (folderBytes(this.home).largest >= bytes || folderBytes(this.outputDir).largest >= bytes) return "file-size-limit";
    }
    // Without a cgroup, memory is the address space: a failed allocation is the program's own error, not told apart.
    return null;
  }

  private stopWatch(): void {
    if (this.watcher) clearInterval(this.watcher);
    this.watcher = null;
  }

  /** What the job used: its cgroup's counts, else the samples (null when there are none). */
  usage(): JobUsage | null {
    if (this.cgroup) {
      const peak = this.cgroup.peakMemory();
      const cpu = this.cgroup.cpuMs();
      if (peak !== null && cpu !== null) return { peakMemoryBytes: peak, cpuMs: Math.round(cpu) };
    }
    if (!this.cgroup) this.sample();
    return this.sampled.peak > 0 || this.sampled.cpuMs > 0
      ? { peakMemoryBytes: this.sampled.peak, cpuMs: Math.round(this.sampled.cpuMs) }
      : null;
  }

  /** Kills whatever of the job is left (its cgroup) and removes its cgroup; its folders stay until closeNow(). */
  async close(): Promise<void> {
    this.stopWatch();
    if (this.cgroup) {
      await this.cgroup.killAll();
      this.cgroup.remove();
    }
  }

  /** The same, at once, from a process's exit handler. */
  closeNow(): void {
    this.stopWatch();
    if (this.cgroup) {
      this.cgroup.signal("SIGKILL");
      this.cgroup.remove();
    }
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}

function signalName(n: number): NodeJS.Signals | null {
  const found = Object.entries(os.constants.signals).find(([, value]) => value === n);
  return found ? (found[0] as NodeJS.Signals) : null;
}

// What this host offers jobs' boxes (jobs/runtime/box.ts): a cgroup, bubblewrap,
// prlimit, and the user programs run as. The server finds it once, at start
// (probeHost), says what is missing, and passes it to each runner in
// SIDEJOB_BOX; a type whose isolation the host cannot give is refused or run
// unconfined (ISOLATION_UNAVAILABLE).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_ISOLATION, type Isolation, type JobType } from "./job-type.ts";
import type { BoxSettings } from "./settings.ts";
import { findCgroups, type CgroupHost } from "./cgroups.ts";

/** What the host offers jobs' boxes, as the server found it at start. */
export interface HostBox {
  cgroup: CgroupHost | null;
  /** bubblewrap's path, when it runs here for the job's user. */
  bwrap: string | null;
  /** prlimit's path (util-linux). */
  prlimit: string | null;
  /** The user programs run as (the server runs as root), or null: the server's own user. */
  user: { name: string; uid: number; gid: number } | null;
  /** What is missing, and why: said at start and on /admin. */
  notes: string[];
}

/** The environment variable that carries a HostBox from the server to its runners. */
export const BOX_ENV = "SIDEJOB_BOX";

/**
 * The environment variable that tells a runner a scheduler started it ("slurm": server/launchers/slurm.ts):
 * a SIGTERM from outside is then the scheduler's (its time limit, an operator's scancel, a preemption),
 * and the runner leaves the end to it rather than record one of its own (jobs/runtime/program.ts).
 */
export const SCHEDULER_ENV = "SIDEJOB_SCHEDULER";

/** An executable on PATH, or null. */
function which(name: string, PATH = process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"): string | null {
  for (const dir of PATH.split(":")) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** A user's uid and gid, by name or number (id(1)), or null. */
function lookupUser(name: string): { uid: number; gid: number } | null {
  const uid = spawnSync("id", ["-u", name], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", name], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Thrown at start when JOB_USER names no unprivileged user. */
export class BoxError extends Error {}

/** What this host offers jobs' boxes (the server, at start). */
export function probeHost(settings: Pick<BoxSettings, "jobUser" | "bwrapPath">): HostBox {
  const notes: string[] = [];
  let user: HostBox["user"] = null;
  if (process.getuid?.() === 0) {
    const name = settings.jobUser ?? "nobody";
    const found = lookupUser(name);
    if (!found) throw new BoxError(`JOB_USER=${JSON.stringify(name)}: no such user on this host`);
    if (found.uid === 0) throw new BoxError(`JOB_USER=${JSON.stringify(name)}: job programs never run as root; name an unprivileged user`);
    user = { name, ...found };
  } else if (settings.jobUser !== null) {
    notes.push("JOB_USER is only used when the server runs as root; programs run as the server's user");
  }
  const prlimit = which("prlimit");
  if (!prlimit) notes.push("prlimit (util-linux) was not found: no rlimits (CPU time, file size, open files)");
  let bwrap = settings.bwrapPath === null ? null : settings.bwrapPath.includes("/") ? settings.bwrapPath : which(settings.bwrapPath);
  if (!bwrap)
    notes.push(
      settings.bwrapPath === null
        ? "bubblewrap is not used (BWRAP_PATH=none): no network or filesystem isolation, no PID namespace"
        : "bubblewrap (bwrap) is not installed: no network or filesystem isolation, no PID namespace",
    );
  else {
    const probe = spawnSync(
      bwrap,
      ["--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent", "--proc", "/proc", "--dev", "/dev", "true"],
      { encoding: "utf8", timeout: 10_000, ...(user ? { uid: user.uid, gid: user.gid } : {}) },
    );
    if (probe.status !== 0) {
      notes.push(`bubblewrap does not work here for the job's user: ${(probe.stderr || probe.error?.message || "").trim().slice(0, 200)}`);
      bwrap = null;
    }
  }
  const cgroup = findCgroups();
  if (!cgroup)
    notes.push(
      "no writable cgroup: memory is bounded per process (address space), processes per user (RLIMIT_NPROC), and peak memory and CPU are sampled",
    );
  return { cgroup, bwrap, prlimit, user, notes };
}

/** A HostBox from a runner's environment; null when the server gave none (a runner started by hand finds its own). */
export function hostFromEnv(env: NodeJS.ProcessEnv): HostBox | null {
  const text = env[BOX_ENV];
  if (!text) return null;
  try {
    return JSON.parse(text) as HostBox;
  } catch {
    return null;
  }
}

/** Whether a type's isolation can be given on this host. */
export function isolationOf(type: Pick<JobType, "isolation">): Required<Isolation> {
  return { ...DEFAULT_ISOLATION, ...type.isolation };
}

/** What the host cannot give a type: null when it can (the server refuses or runs it unconfined: ISOLATION_UNAVAILABLE). */
export function missingIsolation(host: HostBox, type: Pick<JobType, "isolation" | "run">): string | null {
  if (!("command" in type.run)) return null;
  const isolation = isolationOf(type);
  if (host.bwrap || (isolation.network && isolation.filesystem === "host")) return null;
  const asks = [!isolation.network && "no network", isolation.filesystem === "private" && "a private filesystem"].filter(Boolean);
  return `it asks for ${asks.join(" and ")}, which needs bubblewrap`;
}

/** What a host gives jobs' boxes, in a few words: "cgroup v1, prlimit, bubblewrap, as nobody". */
export function describeHost(host: HostBox): string {
  return [
    host.cgroup ? `cgroup v${host.cgroup.version}` : "no cgroup",
    host.prlimit ? "prlimit" : "no prlimit",
    host.bwrap ? "bubblewrap" : "no bubblewrap",
    host.user ? `as ${host.user.name}` : "as the server's user",
  ].join(", ");
}

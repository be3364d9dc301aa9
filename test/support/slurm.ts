// A single-node Slurm of a test file's own (munged, slurmctld, slurmd, all
// in a temporary folder, no systemd), started by test/support/slurm.sh, and
// stopped with nothing left. Needs Debian's slurmctld, slurmd, slurm-client
// and munge (.ci/run installs them) and root.
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../../server/paths.ts";
import { waitFor } from "./wait.ts";

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, "test", "support", "slurm.sh");

export interface TestSlurm {
  /** The slurm.conf every client needs (SLURM_CONF). */
  conf: string;
  dir: string;
  /** A Slurm command with SLURM_CONF: its stdout. */
  command(name: string, args: readonly string[]): Promise<string>;
  /** The ids in squeue now (every job). */
  queued(): Promise<string[]>;
  /** Brings a node set DOWN back, and waits until it takes jobs (idle or in use). */
  resume(node: string): Promise<void>;
  /** Stops slurmctld (as a restart or an outage of the controller does), and waits until it is gone. */
  stopController(): Promise<void>;
  /** Starts slurmctld again (it takes its jobs back from its state folder), and waits until it answers. */
  startController(): Promise<void>;
  stop(): Promise<void>;
}

/** Why Slurm cannot run here, or null when it can. */
export function slurmMissing(): string | null {
  for (const name of ["slurmctld", "slurmd", "sbatch", "munged"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    } catch {
      return `${name} is not installed (apt-get install slurmctld slurmd slurm-client munge)`;
    }
  }
  return process.getuid?.() === 0 ? null : "Slurm's daemons need root here";
}

export async function startSlurm(): Promise<TestSlurm> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-slurm-"));
  const env = { ...process.env, SLURM_TEST_DIR: dir, SLURM_RECIPE_WARMUP: "1" };
  const { stdout } = await run("bash", [SCRIPT, "start"], { env });
  const conf = /SLURM_CONF=(\S+)/.exec(stdout)?.[1];
  if (!conf) throw new Error(`slurm.sh start said: ${stdout}`);
  // A test process that dies (an uncaught exception skips the after hooks) still leaves no daemon behind.
  let stopped = false;
  const onExit = () => {
    if (stopped) return;
    try {
      execFileSync("bash", [SCRIPT, "stop"], { env, stdio: "ignore", timeout: 30_000 });
    } catch {
      // nothing more to do on the way out
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  const command = async (name: string, args: readonly string[]) =>
    (await run(name, [...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SLURM_CONF: conf } })).stdout;
  return {
    conf,
    dir,
    command,
    queued: async () => (await command("squeue", ["--noheader", "--format=%i"])).split("\n").filter(Boolean),
    async stopController() {
      const pid = Number(fs.readFileSync(path.join(dir, "run", "slurmctld.pid"), "utf8"));
      process.kill(pid, "SIGTERM");
      await waitFor(
        () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        },
        { message: "slurmctld to stop", timeout: 30_000 },
      );
    },
    async startController() {
      await run("slurmctld", ["-f", conf], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SLURM_CONF: conf } });
      await waitFor(
        () =>
          command("sinfo", ["--noheader"]).then(
            () => true,
            () => false,
          ),
        {
          message: "slurmctld to answer",
          timeout: 30_000,
        },
      );
    },
    async resume(node) {
      // ReturnToService=2 may have brought it back already: then RESUME is refused, and nothing is to be done.
      await command("scontrol", ["update", `NodeName=${node}`, "State=RESUME"]).catch(() => "");
      await waitFor(
        async () => /^(idle|mixed|allocated)/.test((await command("sinfo", ["--noheader", "-n", node, "--format=%T"])).trim()),
        {
          message: `Slurm node ${node} to take jobs`,
          timeout: 30_000,
        },
      );
    },
    async stop() {
      stopped = true;
      process.off("exit", onExit);
      await run("bash", [SCRIPT, "stop"], { env }).catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

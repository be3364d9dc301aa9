// Jobs as Slurm jobs (a type with runOn: "slurm"). Slurm's commands are run
// with execFile, never through a shell, with only PATH and SLURM_CONF in
// their environment. The batch script, given to sbatch on its stdin, runs
// the same runner as a local job with exactly the job environment (`env -i`),
// and sbatch gets --export=NONE: nothing of the submitter's environment (the
// server's secrets) reaches the job. Its name, sidejob-<id>-<attempt>, is how
// squeue's one call finds every sidejob job (after a restart too).
//
// Memory and time go to --mem and --time, which Slurm enforces: a job Slurm
// killed for its memory (JobAcctGatherParams=OverMemoryKill: FAILED, exit
// 0:9, "Exceeded job memory limit" in its output; or OUT_OF_MEMORY with the
// cgroup plugin) ends memory-limit, one past its time (TIMEOUT) ends
// timeout. The runner keeps the time limit itself too; Slurm's, a minute
// more rounded up to whole minutes, is the backstop.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { SlurmSettings } from "../config.ts";
import type { EndReason } from "../../jobs/core/store.ts";
import { SchedulerUnavailable, type QueuedJob, type RemoteEnd, type RemoteJob, type RemoteLauncher } from "./remote.ts";
import { jobNodeArgs } from "./local.ts";

/** A command of Slurm's that did not answer in this long is given up (ms). */
const COMMAND_TIMEOUT_MS = 30_000;
/** Slurm's states of a job that has not ended. */
const ACTIVE = new Set(["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT"]);
const NAME = /^sidejob-([A-Za-z0-9_-]+)-(\d+)$/;
/** What Slurm's commands say when its controller cannot be reached (down, restarting, overloaded): not the job's fault. */
const UNREACHABLE =
  /Unable to contact slurm controller|Socket timed out|temporarily unable to accept|Connection refused|Zero Bytes were transmitted/i;

/** The name of a job's Slurm job. */
export function slurmJobName(id: string, attempt: number): string {
  return `sidejob-${id}-${attempt}`;
}

/** A word for the shell's single quotes. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The batch script: the runner (from its startup snapshot when the build made one: nodeArgs) with exactly env, nothing else of anyone's environment. */
export function batchScript(
  node: string,
  runner: string,
  job: Pick<RemoteJob, "id" | "attempt" | "env">,
  nodeArgs: readonly string[] = [],
): string {
  const vars = Object.entries(job.env).map(([k, v]) => quote(`${k}=${v}`));
  const argv = [quote(node), ...nodeArgs.map(quote), quote(runner), quote(job.id), String(job.attempt)];
  return ["#!/bin/sh", `exec /usr/bin/env -i ${[...vars, ...argv].join(" ")}`, ""].join("\n");
}

/** sbatch's arguments for a job (the script comes on stdin); defaults: the instance's SLURM_PARTITION and SLURM_OPTIONS. */
export function sbatchArgs(
  job: RemoteJob,
  defaults: Pick<SlurmSettings, "partition" | "options"> = { partition: null, options: [] },
): string[] {
  const { slurm = {} } = job.type;
  const args = [
    "--parsable",
    "--export=NONE",
    // sidejob's retry rules run a lost job again, as another attempt: Slurm must not requeue it too (after a node failure).
    "--no-requeue",
    `--job-name=${slurmJobName(job.id, job.attempt)}`,
    `--output=${job.logFile}`,
    "--open-mode=append",
    `--chdir=${job.dir}`,
    "--ntasks=1",
    `--cpus-per-task=${slurm.cpus ?? 1}`,
    `--time=${Math.ceil(job.timeoutMs / 60_000) + 1}`,
  ];
  if (job.memoryMB > 0) args.push(`--mem=${job.memoryMB}M`);
  const partition = slurm.partition ?? defaults.partition;
  if (partition) args.push(`--partition=${partition}`);
  // The type's options after the instance's: sbatch takes the last of an option given twice.
  args.push(...defaults.options, ...(slurm.options ?? []));
  return args;
}

/** ExitCode=<code>:<signal> of scontrol. */
function exitOf(text: string): { code: number | null; signal: number | null } {
  const m = /^(\d+):(\d+)$/.exec(text);
  return m ? { code: Number(m[1]), signal: Number(m[2]) } : { code: null, signal: null };
}

const SIGNALS: Record<number, string> = { 1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM" };

/** The end reason of a Slurm job that left the queue, from its state, exit code and output. */
export function endOf(fields: Record<string, string>, output: string): RemoteEnd {
  const state = (fields.JobState ?? "").split(/\s/)[0] ?? "";
  const { code, signal } = exitOf(fields.ExitCode ?? "");
  const said = `Slurm: JobState=${state || "unknown"} Reason=${fields.Reason ?? ""} ExitCode=${fields.ExitCode ?? ""}`;
  const end = (reason: EndReason): RemoteEnd => ({
    state,
    reason,
    exitCode: code,
    signal: signal ? (SIGNALS[signal] ?? `signal ${signal}`) : null,
    detail: said,
  });
  if (state === "OUT_OF_MEMORY" || /Exceeded job memory limit|oom[-_ ]kill/i.test(output)) return end("memory-limit");
  if (state === "TIMEOUT" || state === "DEADLINE") return end("timeout");
  if (state === "COMPLETED") return end("no-result");
  if (state === "FAILED") return end(signal ? "signal" : "exit-code");
  // NODE_FAIL, BOOT_FAIL, PREEMPTED, CANCELLED (by an operator: a cancel of ours is the record's), or gone from Slurm's memory.
  return end("lost");
}

export class SlurmLauncher implements RemoteLauncher {
  readonly place = "slurm";
  private readonly env: Record<string, string>;

  constructor(
    private readonly settings: SlurmSettings,
    env: NodeJS.ProcessEnv = process.env,
    /** The node that runs the runner on a compute node (a shared path, as the runner's). */
    private readonly node = process.execPath,
  ) {
    this.env = { PATH: env.PATH ?? "/usr/local/bin:/usr/bin:/bin" };
    const conf = settings.conf ?? env.SLURM_CONF;
    if (conf) this.env.SLURM_CONF = conf;
  }

  private run(command: string, args: readonly string[], input?: string): Promise<string> {
    const file = this.settings.binDir ? path.join(this.settings.binDir, command) : command;
    return new Promise((resolve, reject) => {
      const child = execFile(
        file,
        args,
        { env: this.env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (!err) return resolve(String(stdout));
          // Slurm's commands start their own messages with their name ("sbatch: error: …").
          const text = String(stderr).trim() || err.message;
          const said = text.startsWith(`${command}:`) ? text : `${command}: ${text}`;
          // A command past its time (killed) or one that could not reach the controller: the scheduler is away.
          reject(err.killed || UNREACHABLE.test(said) ? new SchedulerUnavailable(said) : new Error(said));
        },
      );
      // A command that does not read its stdin (squeue) may have exited before the write: its EPIPE is no error here.
      child.stdin?.on("error", () => {});
      if (input === undefined) child.stdin?.end();
      else child.stdin?.end(input);
    });
  }

  async submit(job: RemoteJob): Promise<string> {
    const { runnerPath } = this.settings;
    const out = await this.run("sbatch", sbatchArgs(job, this.settings), batchScript(this.node, runnerPath, job, jobNodeArgs(runnerPath)));
    const remoteId = out.trim().split(";")[0] ?? "";
    if (!/^\d+$/.test(remoteId)) throw new Error(`sbatch: unexpected answer ${JSON.stringify(out.trim())}`);
    return remoteId;
  }

  async queue(): Promise<QueuedJob[]> {
    // --me: the jobs of the user this instance submits as (a cluster's queue may hold many thousands of others').
    const out = await this.run("squeue", ["--me", "--noheader", "--format=%i|%j|%T|%r"]);
    const jobs: QueuedJob[] = [];
    for (const line of out.split("\n")) {
      const [remoteId, name, state, reason] = line.trim().split("|");
      const m = NAME.exec(name ?? "");
      if (!m || !remoteId) continue;
      jobs.push({ remoteId, id: m[1]!, attempt: Number(m[2]), state: state ?? "", reason: reason === "None" ? "" : (reason ?? "") });
    }
    return jobs;
  }

  async cancel(remoteIds: readonly string[]): Promise<void> {
    if (remoteIds.length > 0) await this.run("scancel", remoteIds);
  }

  async ended(remoteId: string, logFile: string): Promise<RemoteEnd> {
    let fields: Record<string, string> = {};
    try {
      const out = await this.run("scontrol", ["show", "job", "--oneliner", remoteId]);
      for (const m of out.matchAll(/(?:^|\s)(\w+)=(\S*)/g)) fields[m[1]!] ??= m[2]!;
    } catch {
      fields = {}; // gone from Slurm's memory (MinJobAge): it says nothing more
    }
    const end = endOf(fields, await tailOf(logFile));
    return ACTIVE.has(end.state) ? { ...end, stillQueued: true } : end;
  }
}

/** The last 4 KB of a file ("" when it cannot be read). */
async function tailOf(file: string): Promise<string> {
  try {
    const handle = await fs.promises.open(file, "r");
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 4096);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString("utf8");
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
}

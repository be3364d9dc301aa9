// The Slurm launcher's pure parts (server/launchers/slurm.ts): sbatch's
// arguments from a type, the batch script (no shell string from a type, the
// environment exactly the job's), the end reason from scontrol's fields, and
// the allow-list of a type's sbatch options (jobs/core/job-type.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { loadConfig } from "../../server/config.ts";
import { batchScript, endOf, sbatchArgs, slurmJobName } from "../../server/launchers/slurm.ts";
import { slurmProblems, validateJobType, type JobType } from "../../jobs/core/job-type.ts";
import type { RemoteJob } from "../../server/launchers/remote.ts";

const type: JobType = {
  name: "align",
  title: "Align",
  description: "Align",
  submitLabel: "Start",
  fields: [],
  run: { command: ["python3", "./align.py"] },
  jobTitle: () => "Align",
  runOn: "slurm",
  slurm: { partition: "compute", cpus: 4, options: ["--account=lab1", "--constraint=avx2"] },
};

const job: RemoteJob = {
  id: "abc123",
  attempt: 2,
  type,
  env: { REDIS_URL: "redis://:pa'ss@10.0.0.1:6379", JOB_TIMEOUT_MS: "90000" },
  logFile: "/shared/logs/abc123.log",
  dir: "/shared/logs",
  timeoutMs: 90_000,
  memoryMB: 512,
};

test("sbatch's arguments: --export=NONE, no requeue by Slurm, the job's name, output, CPUs, memory, time rounded up plus a minute, partition, the allowed options", (t) => {
  t.deepEqual(sbatchArgs(job), [
    "--parsable",
    "--export=NONE",
    "--no-requeue",
    "--job-name=sidejob-abc123-2",
    "--output=/shared/logs/abc123.log",
    "--open-mode=append",
    "--chdir=/shared/logs",
    "--ntasks=1",
    "--cpus-per-task=4",
    "--time=3",
    "--mem=512M",
    "--partition=compute",
    "--account=lab1",
    "--constraint=avx2",
  ]);
  t.is(slurmJobName("abc123", 2), "sidejob-abc123-2");
  t.false(
    sbatchArgs({ ...job, memoryMB: 0 }).some((a) => a.startsWith("--mem")),
    "no memory limit: no --mem",
  );
});

test("the batch script runs the runner with exactly the job environment, each word quoted", (t) => {
  const script = batchScript("/usr/bin/node", "/shared/sidejob/build/jobs/runner.js", job);
  t.is(
    script,
    "#!/bin/sh\nexec /usr/bin/env -i 'REDIS_URL=redis://:pa'\\''ss@10.0.0.1:6379' 'JOB_TIMEOUT_MS=90000' '/usr/bin/node' '/shared/sidejob/build/jobs/runner.js' 'abc123' 2\n",
  );
});

test("the end of a Slurm job its runner did not record: memory, time, node failures and an operator's cancel", (t) => {
  const memory = endOf(
    { JobState: "FAILED", Reason: "JobLaunchFailure", ExitCode: "0:9" },
    "slurmstepd: error: Exceeded job memory limit\n",
  );
  t.is(memory.reason, "memory-limit");
  t.is(memory.signal, "SIGKILL");
  t.is(endOf({ JobState: "OUT_OF_MEMORY", ExitCode: "0:125" }, "").reason, "memory-limit");
  // As Slurm 22.05 showed a job past its --time (by hand: --time=1, ended after 80 s).
  t.is(endOf({ JobState: "TIMEOUT", Reason: "TimeLimit", ExitCode: "0:15" }, "").reason, "timeout");
  t.is(endOf({ JobState: "FAILED", ExitCode: "0:9" }, "").reason, "signal");
  t.is(endOf({ JobState: "FAILED", ExitCode: "1:0" }, "").reason, "exit-code");
  t.is(endOf({ JobState: "COMPLETED", ExitCode: "0:0" }, "").reason, "no-result");
  for (const state of ["NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "CANCELLED"]) t.is(endOf({ JobState: state }, "").reason, "lost", state);
  t.is(endOf({}, "").reason, "lost", "a job Slurm no longer knows");
  t.regex(endOf({ JobState: "NODE_FAIL", Reason: "NodeDown", ExitCode: "0:0" }, "").detail, /JobState=NODE_FAIL Reason=NodeDown/);
});

test("a type's sbatch options: only --name=value from the allow-list; slurm options only with runOn slurm, on a command type", (t) => {
  t.deepEqual(slurmProblems(type), []);
  t.notThrows(() => validateJobType(type));
  for (const bad of ["--wrap=rm -rf /", "--export=ALL", "--output=/etc/passwd", "--account lab1", "--account=lab1;reboot", "--uid=0"]) {
    t.is(slurmProblems({ ...type, slurm: { options: [bad] } }).length, 1, bad);
  }
  t.regex(slurmProblems({ ...type, runOn: undefined }).join(), /slurm options apply to a type with runOn: "slurm"/);
  t.regex(slurmProblems({ ...type, run: { node: "x" } }).join(), /is for a command type/);
  t.regex(slurmProblems({ ...type, slurm: { partition: "a b" } }).join(), /slurm.partition/);
  t.throws(() => validateJobType({ ...type, runOn: "kubernetes" as "local" }), { message: /runOn must be one of local, slurm/ });
});

test("a Slurm type whose runner is not at SLURM_RUNNER_PATH stops the start; the Slurm settings are read", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-slurm-config-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, "remote"));
  fs.writeFileSync(
    path.join(dir, "remote", "job.json"),
    JSON.stringify({ name: "remote", title: "Remote", description: "Remote", fields: [], runOn: "slurm", run: { command: ["/bin/true"] } }),
  );
  const env = { PATH: process.env.PATH, JOB_TYPES_DIR: dir, REDIS_URL: "redis://127.0.0.1:1" };
  t.throws(() => loadConfig({ ...env, SLURM_RUNNER_PATH: path.join(dir, "nowhere", "runner.js") }), {
    message: /SLURM_RUNNER_PATH: no runner at .*nowhere\/runner\.js, which the Slurm type\(s\) remote need/,
  });
  const runner = path.join(dir, "runner.js");
  fs.writeFileSync(runner, "");
  const config = loadConfig({
    ...env,
    SLURM_RUNNER_PATH: runner,
    SLURM_CONF: "/etc/slurm/test.conf",
    SLURM_BIN_DIR: "/opt/slurm/bin",
    SLURM_MAX_SUBMITTED: "7",
    SLURM_PARTITION: "web-jobs",
    SLURM_OPTIONS: "--account=lab1  --qos=short",
  });
  t.deepEqual(config.slurm, {
    conf: "/etc/slurm/test.conf",
    binDir: "/opt/slurm/bin",
    maxSubmitted: 7,
    runnerPath: runner,
    partition: "web-jobs",
    options: ["--account=lab1", "--qos=short"],
  });
  t.is(config.types.find((ty) => ty.name === "remote")?.runOn, "slurm");
  t.throws(() => loadConfig({ ...env, SLURM_RUNNER_PATH: runner, SLURM_CONF: "relative.conf" }), {
    message: /SLURM_CONF="relative.conf": expected an absolute path/,
  });
  t.throws(() => loadConfig({ ...env, SLURM_RUNNER_PATH: runner, SLURM_OPTIONS: "--account=lab1 --output=/etc/passwd" }), {
    message: /SLURM_OPTIONS: "--output=\/etc\/passwd" is not allowed/,
  });
  t.throws(() => loadConfig({ ...env, SLURM_RUNNER_PATH: runner, SLURM_PARTITION: "a b" }), {
    message: /SLURM_PARTITION="a b": expected a partition's name/,
  });
});

test("the instance's SLURM_PARTITION and SLURM_OPTIONS: a type's own partition wins, and its options come after", (t) => {
  const defaults = { partition: "web-jobs", options: ["--account=lab0", "--qos=short"] };
  const args = sbatchArgs(job, defaults);
  t.true(args.includes("--partition=compute"), "the type's partition");
  t.false(args.includes("--partition=web-jobs"));
  t.deepEqual(args.slice(-4), ["--account=lab0", "--qos=short", "--account=lab1", "--constraint=avx2"]);
  const plain = sbatchArgs({ ...job, type: { ...type, slurm: {} } }, defaults);
  t.true(plain.includes("--partition=web-jobs"), "a type without one gets the instance's");
  t.deepEqual(plain.slice(-2), ["--account=lab0", "--qos=short"]);
});

// The runner's work: runs a command job type's program (see jobs/runtime/runner.ts
// and docs/job-types.md, "What the program gets, and what it says").
//
// - The type is looked up by the record's type name (command-types.ts); a
//   command is built from its declaration only (command-line.ts). Never a shell.
// - The program runs in this process's group (the runner is its leader,
//   started detached by the server), so a signal from the server to the
//   group reaches the program and its children too. Run by hand, outside a
//   group of its own, the runner puts the program in a group of its own.
// - Its working directory is fresh (and HOME), under os.tmpdir(), removed at
//   the end, as is SIDEJOB_OUTPUT_DIR (output-files.ts), and the uploads
//   copied for it (SIDEJOB_INPUT_<FIELD>, input-files.ts).
// - Its environment is an allow-list (command-line.ts): nothing of the
//   server's or the runner's.
// - stdin: the parameters as one JSON line, then closed. stdout and stderr:
//   the job's log, line by line as they come, without a prefix. fd 3: the
//   messages (jobs/runtime/messages.ts).
// - Stopping it (cancel, time limit, SIGTERM to the runner): SIGTERM to the
//   program and every other member of the group, SIGKILL to what is left
//   after TERM_TO_KILL_MS. Whatever is left in the group once the program
//   has exited is killed too: a job leaves no process behind (program-group.ts).
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import type { Readable } from "node:stream";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { JobType } from "../core/job-type.ts";
import { settingValues } from "../core/settings.ts";
import { JobEnd, StoppedByScheduler, type JobContext } from "./kit.ts";
import type { EndReason } from "../core/store/record.ts";
import { LineReader, MESSAGE_MAX_BYTES, parseMessage, Reporter } from "./messages.ts";
import { commandLine, MESSAGE_FD, programEnvironment, type RunnerEnv } from "./command-line.ts";
import { inputFiles } from "./input-files.ts";
import { storeOutputFiles } from "./output-files.ts";
import { ProgramGroup } from "./program-group.ts";
import { Box, limitsOf } from "./box.ts";
import { hostFromEnv, isolationOf, missingIsolation, probeHost, SCHEDULER_ENV, type HostBox } from "../core/host-box.ts";

let foundHost: HostBox | null = null;
/** What the host offers the box: as the server found it (SIDEJOB_BOX), else found here. */
function hostBox(ctx: JobContext): HostBox {
  foundHost ??= hostFromEnv(process.env) ?? probeHost(ctx.config.box);
  return foundHost;
}

/** Between SIGTERM and SIGKILL when the runner stops a program (as the server's escalation). */
export const TERM_TO_KILL_MS = 2000;
/** After the program exits, how long its output may still drain (a child it left may hold the pipes). */
export const DRAIN_MS = 500;
/** After that, how long the pipes may take to close once the group is killed. */
const CLOSE_MS = 5000;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Warnings about fd 3 logged one by one; more are counted. */
const MAX_WARNINGS = 20;
/** Lines of stderr kept for a failure's detail; the last one is its message. */
const STDERR_TAIL_LINES = 20;

/** A command type, as the runner found it. */
export interface CommandType {
  type: JobType;
  /** Where its "./program" elements are. */
  dir: string;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The runner's work for one job: found is the job's command type (accepted before). */
export async function runProgram(ctx: JobContext, found: CommandType, env: RunnerEnv): Promise<void> {
  const { id, job } = ctx;
  const { type, dir } = found;
  if (!("command" in type.run)) throw new JobEnd({ reason: "spawn-failed", detail: "not a command type" });
  const warn = (text: string) => process.stderr.write(`sidejob: ${text}\n`);

  const host = hostBox(ctx);
  const missing = missingIsolation(host, type);
  if (missing && ctx.config.box.isolationUnavailable === "refuse")
    throw new JobEnd({
      reason: "spawn-failed",
      detail: `This host cannot isolate the type ${type.name}: ${missing} (ISOLATION_UNAVAILABLE=refuse).`,
    });
  const box = new Box(host, limitsOf(type, ctx.job.attempt, ctx.config.box), isolationOf(type), id, ctx.job.attempt, dir);
  const { base, home, outputDir } = box;
  // In bubblewrap, the program has a group of its own: a SIGTERM to the runner's group must not reach bubblewrap (wrappers()).
  const group = new ProgramGroup(host.bwrap !== null);
  // Whatever way this process ends (even a fenced exit in the kit), nothing of the job stays behind.
  const onExit = () => {
    group.signal("SIGKILL");
    box.closeNow();
  };
  process.on("exit", onExit);

  // A SIGTERM to the runner (the server's escalation, sent to the whole
  // group) stops the program like a cancel does; the end recorded then
  // depends on whether a cancel was requested.
  let terminated = false;
  let stop: (() => void) | null = null;
  const onTerm = () => {
    terminated = true;
    stop?.();
  };
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onTerm);

  try {
    const inputs = Object.fromEntries(
      Object.entries(await inputFiles(ctx.store, id, type, job.params, base)).map(([field, file]) => [field, box.input(file)]),
    );
    const argv = commandLine(type.run.command, dir, job.params, inputs);
    const programEnv = programEnvironment(env, {
      id,
      params: job.params,
      home,
      outputDir,
      inputs,
      settings: settingValues(type.settings ?? {}, ctx.config),
    });
    // Not found: said here, as a spawn would (the box's own tools would only exit non-zero).
    if (!findProgram(argv[0]!, programEnv.PATH ?? ""))
      throw new JobEnd({ reason: "spawn-failed", detail: `${argv[0]}: spawn ${argv[0]} ENOENT` });
    const boxed = box.command(argv, programEnv);
    let limitHit: EndReason | null = null;
    const child: ChildProcessWithoutNullStreams & { stdio: ChildProcess["stdio"] } = box.start(
      () =>
        spawn(boxed[0]!, boxed.slice(1), {
          cwd: home,
          env: programEnv,
          stdio: ["pipe", "pipe", "pipe", "pipe"],
          detached: !group.shared,
          ...box.spawnUser,
        }),
      (reason) => {
        // A limit passed (the kernel refused memory or a process, the output folder grew past its size): the job ends.
        limitHit = reason;
        warn(`job stopped: ${reason}`);
        stop?.();
      },
    );
    group.child = child;
    const exited = new Promise<Exit | Error>((resolve) => {
      child.once("error", (err) => resolve(err));
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));

    // stdin: the parameters, then end of file. A program that does not read them may exit first.
    child.stdin.on("error", () => {});
    child.stdin.end(`${JSON.stringify(job.params)}\n`);

    const stderrTail = pipeLog(ctx, child);
    const { messages, reporter, warnings } = readMessages(ctx, child, warn);
    // Stopping: SIGTERM now, SIGKILL to what is left after the grace.
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    stop = () => {
      if (killTimer) return;
      const wrappers = box.wrappers();
      group.signal("SIGTERM", wrappers);
      box.signal("SIGTERM", wrappers);
      killTimer = setTimeout(() => {
        if (group.signal("SIGKILL")) killed = true;
        if (box.signal("SIGKILL")) killed = true;
      }, TERM_TO_KILL_MS);
    };
    if (ctx.signal.aborted || terminated) stop();
    ctx.signal.addEventListener("abort", () => stop?.(), { once: true });

    const ended = await exited;
    if (ended instanceof Error) {
      clearTimeout(killTimer);
      throw new JobEnd({ reason: "spawn-failed", detail: `${argv[0]}: ${ended.message}` });
    }
    // Through bubblewrap, a program killed by a signal is told as exit code 128 + the signal.
    const exit = box.host.bwrap ? signalled(ended) : ended;
    // Its output may still be in the pipes. A child it left behind may hold
    // them open: what is left of the group after DRAIN_MS is killed, which
    // closes them (one that left the group gets CLOSE_MS more).
    const drained = await Promise.race([closed.then(() => true), delay(DRAIN_MS).then(() => false)]);
    if (!drained) {
      group.signal("SIGKILL");
      box.signal("SIGKILL");
      await Promise.race([closed, delay(CLOSE_MS)]);
    }
    // What the job used, and whether a limit ended it, before anything of it is killed or removed.
    const limit = limitHit ?? box.limitReason(exit);
    ctx.usage = box.usage() ?? undefined;
    await box.close();
    clearTimeout(killTimer);
    for (const stream of [child.stdout, child.stderr, messages]) stream.destroy();
    reporter.close();
    await reporter.flush();
    if (warnings() > MAX_WARNINGS) warn(`${warnings()} messages on fd 3 were ignored in all`);

    if (limit)
      throw new JobEnd({
        reason: limit,
        exitCode: exit.code,
        signal: exit.signal ?? undefined,
        limit: limitValue(limit, box),
        detail: limitDetail(limit, box),
      });
    if (ctx.signal.aborted) {
      // Cancelled or timed out: the kit records which; here only the facts.
      throw new JobEnd({ reason: killed ? "cancel-killed" : "cancelled", ...(killed ? { signal: "SIGKILL" } : {}) });
    }
    // Under a scheduler, a program ended by SIGTERM was signalled with its runner (the scheduler signals the whole
    // step): the runner may see the program's exit before its own SIGTERM's handler runs.
    if (terminated || (process.env[SCHEDULER_ENV] && exit.signal === "SIGTERM")) {
      // Stopped by a signal from outside: a cancel if one was asked for (the report says so and throws).
      await ctx.progress({});
      // Else, under a scheduler, its signal (a time limit, an operator's cancel, a preemption): the scheduler says which.
      if (process.env[SCHEDULER_ENV]) throw new StoppedByScheduler(`${process.env[SCHEDULER_ENV]}: SIGTERM`);
      throw new JobEnd({ reason: "signal", signal: "SIGTERM", error: reporter.error ?? undefined });
    }
    await storeOutputFiles(ctx, outputDir, warn);
    if (exit.code === 0) return;
    const detail = stderrTail.join("\n") || undefined;
    if (exit.signal) throw new JobEnd({ reason: "signal", signal: exit.signal, error: reporter.error ?? undefined, detail });
    if (reporter.error) throw new JobEnd({ reason: "job-error", error: reporter.error, exitCode: exit.code, detail });
    // No error of its own: the page says it stopped unexpectedly; what it wrote to stderr stays in the detail (the operators').
    throw new JobEnd({ reason: "exit-code", exitCode: exit.code, detail });
  } finally {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onTerm);
    // Still handled until the process exits: a late SIGTERM must not cut the end's record short.
    process.on("SIGTERM", () => {});
    onExit();
    process.off("exit", onExit);
  }
}

/** An executable file: argv[0] as given when it holds a '/', else on PATH. */
function findProgram(name: string, PATH: string): string | null {
  const candidates = name.includes("/")
    ? [name]
    : PATH.split(":")
        .filter(Boolean)
        .map((dir) => path.join(dir, name));
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** An exit as bubblewrap tells it (128 + a signal), as the program's own. */
function signalled(exit: Exit): Exit {
  if (exit.signal !== null || exit.code === null || exit.code <= 128) return exit;
  const name = Object.entries(os.constants.signals).find(([, n]) => n === exit.code! - 128)?.[0];
  return name ? { code: null, signal: name as NodeJS.Signals } : exit;
}

/** The value of the limit that stopped a job, in the unit its type declares it. */
function limitValue(reason: EndReason, box: Box): number | undefined {
  const { limits } = box;
  const values: Partial<Record<EndReason, number>> = {
    "memory-limit": limits.memoryMB,
    "cpu-limit": limits.cpuSeconds,
    "process-limit": limits.processes,
    "output-limit": limits.outputMB,
    "file-size-limit": limits.fileSizeMB,
  };
  return values[reason] || undefined;
}

/** The limit that stopped a job, in the operators' detail: which, and its value. */
function limitDetail(reason: EndReason, box: Box): string {
  const { limits } = box;
  const value: Partial<Record<EndReason, string>> = {
    "memory-limit": `limits.memoryMB = ${limits.memoryMB}`,
    "cpu-limit": `limits.cpuSeconds = ${limits.cpuSeconds}`,
    "process-limit": `limits.processes = ${limits.processes}`,
    "output-limit": `limits.outputMB = ${limits.outputMB}`,
    "file-size-limit": `limits.fileSizeMB = ${limits.fileSizeMB}`,
  };
  return `Stopped at its type's limit: ${value[reason] ?? reason}.`;
}

/** The program's stdout and stderr into the job's log, whole lines at a time so the two interleave cleanly; returns the last lines of stderr, kept as they come. */
function pipeLog(ctx: JobContext, child: { stdout: Readable; stderr: Readable }): string[] {
  const stderrTail: string[] = [];
  for (const [stream, isErr] of [
    [child.stdout, false],
    [child.stderr, true],
  ] as const) {
    let pending = "";
    let paused = false;
    const line = (text: string) => {
      // The log's store is behind: the pipe waits (the program blocks on its writes) until it catches up.
      if (!ctx.writeLog(`${text}\n`) && !paused) {
        paused = true;
        stream.pause();
        void ctx.logDrained().then(() => {
          paused = false;
          stream.resume();
        });
      }
      if (isErr && text.trim() !== "") {
        stderrTail.push(text.slice(0, 256));
        if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      }
    };
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) !== -1) {
        line(pending.slice(0, nl).replace(/\r$/, ""));
        pending = pending.slice(nl + 1);
      }
      while (pending.length > 4096) {
        line(pending.slice(0, 4096));
        pending = pending.slice(4096);
      }
    });
    stream.on("end", () => {
      if (pending !== "") line(pending);
      pending = "";
    });
    stream.on("error", () => {});
  }
  return stderrTail;
}

/** The messages on fd 3, reported as they come; a line that is not one is warned about (the first MAX_WARNINGS) and counted. */
function readMessages(ctx: JobContext, child: ChildProcess, warn: (text: string) => void) {
  const messages = child.stdio[MESSAGE_FD] as NodeJS.ReadableStream & { destroy(): void };
  let warnings = 0;
  const ignored = (why: string, line?: string) => {
    warnings++;
    if (warnings <= MAX_WARNINGS) warn(`ignored a message on fd 3: ${why}${line === undefined ? "" : `: ${line.slice(0, 80)}`}`);
    if (warnings === MAX_WARNINGS) warn("further ignored messages are only counted");
  };
  const reporter = new Reporter(
    (update) => ctx.progress(update),
    (pause) => (pause ? messages.pause() : messages.resume()),
  );
  const reader = new LineReader(
    MESSAGE_MAX_BYTES,
    (line) => {
      const parsed = parseMessage(line);
      if (parsed.ok) reporter.add(parsed.message);
      else ignored(parsed.why, line);
    },
    () => ignored(`longer than ${MESSAGE_MAX_BYTES} bytes`),
  );
  messages.on("data", (chunk: Buffer) => reader.push(chunk));
  messages.on("end", () => reader.end());
  messages.on("error", () => {});
  return { messages, reporter, warnings: () => warnings };
}

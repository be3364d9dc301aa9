// The runner's work: runs a command job type's program (see jobs/runtime/runner.ts
// and README, "Add your own job type").
//
// - The type is looked up in the registry by the record's type name; a
//   command is built from its declaration only (argv[0] on PATH, "./x" next
//   to the type modules, "{name}" a parameter's value). Never a shell.
// - The program runs in this process's group (the runner is its leader,
//   started detached by the server), so a signal from the server to the
//   group reaches the program and its children too. Run by hand, outside a
//   group of its own, the runner puts the program in a group of its own.
// - Its working directory is fresh (and HOME), under os.tmpdir(), removed at
//   the end, as is SIDEJOB_OUTPUT_DIR, and the uploads copied for it
//   (SIDEJOB_INPUT_<FIELD>, see inputFiles()).
// - Its environment is an allow-list: PATH, LANG and LC_ALL when set, HOME,
//   and the SIDEJOB_* variables. Nothing of the server's or the runner's.
// - stdin: the parameters as one JSON line, then closed. stdout and stderr:
//   the job's log, line by line as they come, without a prefix. fd 3: the
//   messages (jobs/runtime/messages.ts).
// - Stopping it (cancel, time limit, SIGTERM to the runner): SIGTERM to the
//   program and every other member of the group, SIGKILL to what is left
//   after TERM_TO_KILL_MS. Whatever is left in the group once the program
//   has exited is killed too: a job leaves no process behind.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { validateJobType, type JobType } from "../core/job-type.ts";
import { isUploadRef, type Params } from "../core/fields.ts";
import { JobEnd, type JobContext } from "./kit.ts";
import { LineReader, MESSAGE_MAX_BYTES, parseMessage, Reporter } from "./messages.ts";
import { jobTypesDir, projectRoot } from "../core/paths.ts";
import type { JobRecord, JobStore, Outcome } from "../core/store.ts";
import { JOB_TYPES } from "../types/index.ts";

/** Between SIGTERM and SIGKILL when the runner stops a program (as the server's escalation). */
export const TERM_TO_KILL_MS = 2000;
/** After the program exits, how long its output may still drain (a child it left may hold the pipes). */
export const DRAIN_MS = 500;
/** After that, how long the pipes may take to close once the group is killed. */
const CLOSE_MS = 5000;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * Output files: at most this many bytes in all per job. They are stored in
 * Redis with the job (until it expires), so this bounds one job's memory
 * there; a file that would pass it is skipped, with a warning in the log.
 */
export const OUTPUT_MAX_BYTES = 20 * 1024 * 1024;
/** At most this many output files per job. */
export const OUTPUT_MAX_FILES = 100;
/** An output file's name: plain, no folders. */
const OUTPUT_NAME = /^[\w.-]+$/;
/** Warnings about fd 3 logged one by one; more are counted. */
const MAX_WARNINGS = 20;
/** Lines of stderr kept for a failure's detail; the last one is its message. */
const STDERR_TAIL_LINES = 20;
/** The descriptor of the messages, as the program sees it. */
const MESSAGE_FD = 3;

/** What the runner reads from its own environment (it reads nothing else there). */
export interface RunnerEnv {
  PATH?: string;
  LANG?: string;
  LC_ALL?: string;
  /**
   * TEST ONLY: a CommonJS module (the build makes build/fixtures/types.cjs
   * with `--fixtures`) exporting JOB_TYPES and DIR (its programs' folder,
   * from the project root). Its types are found after the registry's. The
   * server passes it only when its Supervisor is given `jobEnv` by a test.
   */
  SIDEJOB_TYPES_MODULE?: string;
}

interface Found {
  type: JobType;
  /** Where its "./program" elements are. */
  dir: string;
}

/** The command types this runner knows, by name: the registry's, then a test module's. */
export function commandTypes(env: RunnerEnv, root = projectRoot()): Map<string, Found> {
  const found = new Map<string, Found>();
  for (const type of JOB_TYPES) found.set(type.name, { type, dir: jobTypesDir(root) });
  if (env.SIDEJOB_TYPES_MODULE) {
    // createRequire works in the bundle and in a snapshot alike (import() does not in a snapshot).
    const extra = createRequire(path.join(root, "package.json"))(path.resolve(root, env.SIDEJOB_TYPES_MODULE)) as {
      JOB_TYPES: JobType[];
      DIR: string;
    };
    for (const type of extra.JOB_TYPES) {
      validateJobType(type);
      if (!found.has(type.name)) found.set(type.name, { type, dir: path.resolve(root, extra.DIR) });
    }
  }
  return found;
}

/** Accepts a job whose type is a registered command type; anything else ends failed before anything runs. */
export function acceptCommandJob(types: Map<string, Found>, job: JobRecord): Outcome | null {
  const found = types.get(job.type);
  if (!found) return { reason: "unknown-type", detail: `No job type is named ${JSON.stringify(job.type)} here.` };
  if (!("command" in found.type.run))
    return { reason: "spawn-failed", detail: `The ${job.type} type is not a command; the runner does not run it.` };
  return null;
}

/** The program's argv, from the type's declaration and the job's parameters. */
export function commandLine(command: readonly string[], dir: string, params: Params | Record<string, unknown>): string[] {
  return command.map((arg) => {
    if (arg.startsWith("./")) return path.join(dir, arg);
    const param = /^\{([a-z][a-z0-9_]*)\}$/.exec(arg)?.[1];
    if (param !== undefined) {
      const value = params[param];
      return value === undefined || value === null
        ? ""
        : typeof value === "object"
          ? JSON.stringify(value)
          : `${value as string | number | boolean}`;
    }
    return arg;
  });
}

/**
 * The input files of a type's file fields, as field name -> path: each
 * upload is copied from the store (GETRANGE, chunk by chunk, never whole in
 * memory) to `<dir>/input/<field>` (the field's name, never the uploaded
 * file's). An upload that is no longer stored fails the job, spawn-failed.
 */
export async function inputFiles(
  store: Pick<JobStore, "uploadSize" | "readUpload">,
  id: string,
  type: JobType,
  params: Record<string, unknown>,
  dir: string,
): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const field of type.fields) {
    if (field.kind !== "file") continue;
    if (!isUploadRef(params[field.name])) {
      if (field.optional) continue;
      throw new JobEnd({ reason: "spawn-failed", detail: `The job has no file for its field ${field.name}.` });
    }
    if ((await store.uploadSize(id, field.name)) === 0) {
      throw new JobEnd({ reason: "spawn-failed", detail: `The file uploaded for ${field.name} is no longer stored.` });
    }
    const folder = path.join(dir, "input");
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
    const file = path.join(folder, field.name);
    // One chunk at a time, written before the next is read. Each chunk is a
    // new Buffer outside V8's heap, which V8 collects only after tens of MB
    // of them: a collection every COPY_GC_BYTES keeps the runner's memory flat.
    const fd = fs.openSync(file, "wx", 0o600);
    try {
      let sinceGc = 0;
      for await (const chunk of store.readUpload(id, field.name)) {
        fs.writeSync(fd, chunk);
        sinceGc += chunk.length;
        if (sinceGc >= COPY_GC_BYTES) {
          sinceGc = 0;
          collectGarbage();
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    files[field.name] = file;
  }
  return files;
}

/** Bytes of an upload copied between two garbage collections. */
const COPY_GC_BYTES = 8 * 1024 * 1024;
let gc: (() => void) | null = null;

/** A full garbage collection (V8's gc(), exposed on first use). */
function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
}

/** The program's whole environment. */
export function programEnvironment(
  env: RunnerEnv,
  vars: { id: string; params: unknown; home: string; outputDir: string; inputs: Record<string, string> },
): Record<string, string> {
  const out: Record<string, string> = { PATH: env.PATH || "/usr/local/bin:/usr/bin:/bin" };
  if (env.LANG) out.LANG = env.LANG;
  if (env.LC_ALL) out.LC_ALL = env.LC_ALL;
  out.HOME = vars.home;
  out.SIDEJOB_JOB_ID = vars.id;
  out.SIDEJOB_PARAMS = JSON.stringify(vars.params);
  out.SIDEJOB_OUTPUT_DIR = vars.outputDir;
  out.SIDEJOB_FD = String(MESSAGE_FD);
  for (const [field, file] of Object.entries(vars.inputs)) out[`SIDEJOB_INPUT_${field.toUpperCase()}`] = file;
  return out;
}

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
class ProgramGroup {
  /** True when the runner leads its own group and the program shares it. */
  readonly shared = groupOf("self") === process.pid;
  child: ChildProcess | null = null;

  /** Signals every member; false when there was none left. */
  signal(sig: NodeJS.Signals): boolean {
    if (this.shared) {
      let sent = false;
      for (const pid of otherMembers(process.pid)) {
        try {
          process.kill(pid, sig);
          sent = true;
        } catch {
          // gone
        }
      }
      return sent;
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

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The runner's work for one job: found is the job's command type (accepted before). */
export async function runProgram(ctx: JobContext, found: Found, env: RunnerEnv): Promise<void> {
  const { id, job } = ctx;
  const { type, dir } = found;
  if (!("command" in type.run)) throw new JobEnd({ reason: "spawn-failed", detail: "not a command type" });
  const warn = (text: string) => process.stderr.write(`sidejob: ${text}\n`);

  const base = fs.mkdtempSync(path.join(os.tmpdir(), `sidejob-${id}-`));
  const home = path.join(base, "work");
  const outputDir = path.join(base, "output");
  fs.mkdirSync(home, { mode: 0o700 });
  fs.mkdirSync(outputDir, { mode: 0o700 });
  const group = new ProgramGroup();
  // Whatever way this process ends (even a fenced exit in the kit), nothing of the job stays behind.
  const onExit = () => {
    group.signal("SIGKILL");
    fs.rmSync(base, { recursive: true, force: true });
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
    const argv = commandLine(type.run.command, dir, job.params);
    const inputs = await inputFiles(ctx.store, id, type, job.params, base);
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: home,
      env: programEnvironment(env, { id, params: job.params, home, outputDir, inputs }),
      stdio: ["pipe", "pipe", "pipe", "pipe"],
      detached: !group.shared,
    });
    group.child = child;
    const exited = new Promise<Exit | Error>((resolve) => {
      child.once("error", (err) => resolve(err));
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));

    // stdin: the parameters, then end of file. A program that does not read them may exit first.
    child.stdin.on("error", () => {});
    child.stdin.end(`${JSON.stringify(job.params)}\n`);

    // stdout and stderr: the job's log, whole lines at a time so the two interleave cleanly.
    const stderrTail: string[] = [];
    for (const [stream, isErr] of [
      [child.stdout, false],
      [child.stderr, true],
    ] as const) {
      let pending = "";
      const line = (text: string) => {
        ctx.writeLog(`${text}\n`);
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

    // fd 3: messages.
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

    // Stopping: SIGTERM now, SIGKILL to what is left after the grace.
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    stop = () => {
      if (killTimer) return;
      group.signal("SIGTERM");
      killTimer = setTimeout(() => {
        if (group.signal("SIGKILL")) killed = true;
      }, TERM_TO_KILL_MS);
    };
    if (ctx.signal.aborted || terminated) stop();
    ctx.signal.addEventListener("abort", () => stop?.(), { once: true });

    const exit = await exited;
    if (exit instanceof Error) {
      clearTimeout(killTimer);
      throw new JobEnd({ reason: "spawn-failed", detail: `${argv[0]}: ${exit.message}` });
    }
    // Its output may still be in the pipes. A child it left behind may hold
    // them open: what is left of the group after DRAIN_MS is killed, which
    // closes them (one that left the group gets CLOSE_MS more).
    const drained = await Promise.race([closed.then(() => true), delay(DRAIN_MS).then(() => false)]);
    if (!drained) {
      group.signal("SIGKILL");
      await Promise.race([closed, delay(CLOSE_MS)]);
    }
    clearTimeout(killTimer);
    for (const stream of [child.stdout, child.stderr, messages]) stream.destroy();
    reporter.close();
    await reporter.flush();
    if (warnings > MAX_WARNINGS) warn(`${warnings} messages on fd 3 were ignored in all`);

    if (ctx.signal.aborted) {
      // Cancelled or timed out: the kit records which; here only the facts.
      throw new JobEnd({ reason: killed ? "cancel-killed" : "cancelled", ...(killed ? { signal: "SIGKILL" } : {}) });
    }
    if (terminated) {
      // Stopped by a signal from outside: a cancel if one was asked for (the report says so and throws).
      await ctx.progress({});
      throw new JobEnd({ reason: "signal", signal: "SIGTERM", error: reporter.error ?? undefined });
    }
    await storeOutputFiles(ctx, outputDir, warn);
    if (exit.code === 0) return;
    const detail = stderrTail.join("\n") || undefined;
    if (exit.signal) throw new JobEnd({ reason: "signal", signal: exit.signal, error: reporter.error ?? undefined, detail });
    if (reporter.error) throw new JobEnd({ reason: "job-error", error: reporter.error, exitCode: exit.code, detail });
    throw new JobEnd({ reason: "exit-code", exitCode: exit.code, error: stderrTail.at(-1)?.trim() || undefined, detail });
  } finally {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onTerm);
    // Still handled until the process exits: a late SIGTERM must not cut the end's record short.
    process.on("SIGTERM", () => {});
    onExit();
    process.off("exit", onExit);
  }
}

/** Stores each plain regular file of the output folder, within OUTPUT_MAX_BYTES in all. */
async function storeOutputFiles(ctx: JobContext, dir: string, warn: (text: string) => void): Promise<void> {
  const { store } = ctx;
  let total = 0;
  let files = 0;
  for (const name of fs.readdirSync(dir).sort()) {
    if (!OUTPUT_NAME.test(name) || name === "." || name === "..") {
      warn(`output file ${JSON.stringify(name.slice(0, 80))} skipped: its name may only hold letters, digits, '.', '_' and '-'`);
      continue;
    }
    let fd: number;
    try {
      // O_NOFOLLOW: a symbolic link is not followed out of the folder.
      fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      warn(`output file ${name} skipped: not a regular file`);
      continue;
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) {
        warn(`output file ${name} skipped: not a regular file`);
        continue;
      }
      if (files >= OUTPUT_MAX_FILES) {
        warn(`output file ${name} skipped: a job keeps at most ${OUTPUT_MAX_FILES} files`);
        continue;
      }
      if (total + stat.size > OUTPUT_MAX_BYTES) {
        warn(`output file ${name} skipped: ${stat.size} bytes would pass the ${OUTPUT_MAX_BYTES} bytes a job may keep`);
        continue;
      }
      const content = Buffer.alloc(stat.size);
      let read = 0;
      while (read < stat.size) {
        const n = fs.readSync(fd, content, read, stat.size - read, read);
        if (n === 0) break;
        read += n;
      }
      total += read;
      files++;
      if (!(await store.putFile(ctx.id, name, content.subarray(0, read))))
        warn(`output file ${name} not stored: the job is no longer running`);
    } finally {
      fs.closeSync(fd);
    }
  }
}

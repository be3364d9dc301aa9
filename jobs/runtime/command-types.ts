// The command job types a runner knows, and the runner's spec and work for
// runJob() (kit.ts): the runner (runner.ts) knows the registry's; a build
// may add others, each list with its programs' folder (the test fixtures'
// runner, test/fixtures/runner.ts).
import path from "node:path";
import { validateJobType, type JobType } from "../core/job-type.ts";
import { projectRoot, typeFolders } from "../core/paths.ts";
import { loadTypeFolders } from "../core/manifest.ts";
import type { JobRecord, Outcome } from "../core/store.ts";
import type { JobContext, JobSpec } from "./kit.ts";
import { runProgram, type CommandType } from "./program.ts";
import type { RunnerEnv } from "./command-line.ts";

/** Job types, and the folder of their programs from the project root. */
export interface TypeList {
  types: readonly JobType[];
  dir: (root: string) => string;
}

/** The types of the lists by name; of two types with one name, the first listed. */
export function commandTypes(lists: readonly TypeList[], root = projectRoot()): Map<string, CommandType> {
  const found = new Map<string, CommandType>();
  for (const list of lists) {
    const dir = path.resolve(root, list.dir(root));
    for (const type of list.types) {
      validateJobType(type);
      if (!found.has(type.name)) found.set(type.name, { type, dir: type.dir ?? dir });
    }
  }
  return found;
}

/** Accepts a job whose type is a known command type; anything else ends failed before anything runs. */
export function acceptCommandJob(types: Map<string, CommandType>, job: JobRecord): Outcome | null {
  const found = types.get(job.type);
  if (!found) return { reason: "unknown-type", detail: `No job type is named ${JSON.stringify(job.type)} here.` };
  if (!("command" in found.type.run))
    return { reason: "spawn-failed", detail: `The ${job.type} type is not a command; the runner does not run it.` };
  return null;
}

/** What a runner gives runJob(): it accepts a job of one of these types, and runs its program. */
export function commandRunner(lists: readonly TypeList[]): { spec: JobSpec; work: (ctx: JobContext) => Promise<void> } {
  // Read in the started process (a snapshot's build has no job to run).
  let types: Map<string, CommandType> | undefined;
  let env: RunnerEnv = {};
  const found = () => {
    if (!types) {
      env = { PATH: process.env.PATH, LANG: process.env.LANG, LC_ALL: process.env.LC_ALL };
      // The types of JOB_TYPES_DIR's folders (absolute, as the server passes them), after the built-in ones.
      const folders = loadTypeFolders(typeFolders(process.env.JOB_TYPES_DIR, "/"));
      if (folders.problems.length > 0) throw new Error(folders.problems.join("; "));
      types = commandTypes([...lists, { types: folders.types, dir: () => "/" }]);
    }
    return types;
  };
  return {
    spec: {
      accept(job) {
        try {
          return acceptCommandJob(found(), job);
        } catch (err) {
          return { reason: "spawn-failed", detail: `The job types could not be loaded: ${(err as Error).message}` };
        }
      },
      resubmitTimeoutMs: (job) => types?.get(job.type)?.type.resubmit?.timeoutMs ?? null,
    },
    work: (ctx) => runProgram(ctx, found().get(ctx.job.type)!, env),
  };
}

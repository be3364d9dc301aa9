// The runner: `node build/jobs/runner.js <job id>`, started by the server for
// a job whose type is a command (run: { command: [...] }). It holds the
// job's lease, heartbeat, cancel and time limit (jobs/runtime/kit.ts, as a Node job
// type does) and runs the type's program under the fd 3 protocol
// (jobs/runtime/program.ts, jobs/runtime/messages.ts). The type is found in the registry by
// the record's type name; an unknown type, or one that is not a command,
// ends the job failed before anything runs.
//
// Exits as every job process does (see kit.ts).
import { runJob } from "./kit.ts";
import { acceptCommandJob, commandTypes, runProgram, type RunnerEnv } from "./program.ts";

// Read here, in the started process (a snapshot's build has no job to run).
let types: ReturnType<typeof commandTypes> | undefined;
let env: RunnerEnv = {};
const found = () => {
  if (!types) {
    env = {
      PATH: process.env.PATH,
      LANG: process.env.LANG,
      LC_ALL: process.env.LC_ALL,
      SIDEJOB_TYPES_MODULE: process.env.SIDEJOB_TYPES_MODULE,
    };
    types = commandTypes(env);
  }
  return types;
};

await runJob(
  {
    accept(job) {
      try {
        return acceptCommandJob(found(), job);
      } catch (err) {
        return { reason: "spawn-failed", detail: `The job types could not be loaded: ${(err as Error).message}` };
      }
    },
  },
  (ctx) => runProgram(ctx, found().get(ctx.job.type)!, env),
);

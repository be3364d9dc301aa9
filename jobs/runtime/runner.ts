// The runner: `node build/jobs/runner.js <job id>`, started by the server for
// a job whose type is a command (run: { command: [...] }). It holds the
// job's lease, heartbeat, cancel and time limit (jobs/runtime/kit.ts, as a Node job
// type does) and runs the type's program under the fd 3 protocol
// (jobs/runtime/program.ts, jobs/runtime/messages.ts). The type is found in the registry by
// the record's type name (command-types.ts); an unknown type, or one that
// is not a command, ends the job failed before anything runs.
//
// Exits as every job process does (see kit.ts).
import { runJob } from "./kit.ts";
import { commandRunner } from "./command-types.ts";
import { jobTypesDir } from "../core/paths.ts";
import { JOB_TYPES } from "../types/index.ts";

const runner = commandRunner([{ types: JOB_TYPES, dir: jobTypesDir }]);
await runJob(runner.spec, runner.work);

// Startup snapshots of job scripts (built by scripts/build.mjs).
//
// A job process spends most of its start-up evaluating its bundle (ioredis
// above all). `node --build-snapshot` runs a job script's bundle once at build
// time and saves the heap; the launcher then starts the job as
// `node --snapshot-blob build/jobs/<type>.<node version>.blob build/jobs/<type>.js <id>`,
// which deserializes that heap and calls the function registered here. It
// roughly halves a job's start-up time, CPU and memory (the figures:
// bench/README.md).
//
// In the snapshot build, a job script's `import { runJob } from "./kit.ts"`
// resolves to this module: runJob() only registers the work, and the real
// runJob (which reads argv and the environment, and connects) runs in the
// started process.
import v8 from "node:v8";
import { runJob as runNow, type JobContext, type JobSpec } from "./kit.ts";

export type { JobContext, JobSpec };
export { JobEnd, Cancelled } from "./kit.ts";

export function runJob(spec: JobSpec, work: (ctx: JobContext) => Promise<void>): Promise<never> {
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    void runNow(spec, work);
  });
  return new Promise<never>(() => {});
}

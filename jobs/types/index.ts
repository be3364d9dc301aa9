// The built-in job types, one module each in this folder; a deployment adds
// its own from JOB_TYPES_DIR (job.json, jobs/core/manifest.ts). To add a type, write its module (see docs/job-types.md, "Add your own job
// type") and list it here. The server, the build (which bundles the Node
// ones) and the runner all find types through this list, never by a path or
// a name built from a job record.
import { validateJobType, type JobType } from "../core/job-type.ts";
import { count } from "./count.ts";
import { primes } from "./primes.ts";
import { csvCheck } from "./csv-check.ts";

export const JOB_TYPES: readonly JobType[] = [count, primes, csvCheck];

for (const type of JOB_TYPES) validateJobType(type);
if (new Set(JOB_TYPES.map((t) => t.name)).size !== JOB_TYPES.length) throw new Error("two job types have the same name");
const settingNames = JOB_TYPES.flatMap((t) => Object.keys(t.settings ?? {}));
if (new Set(settingNames).size !== settingNames.length) throw new Error("two job types declare a setting of the same name");

const BY_NAME = new Map(JOB_TYPES.map((t) => [t.name, t]));

/**
 * The type of that name among types (a deployment's: config.types, the
 * built-in ones and JOB_TYPES_DIR's), or undefined. A name from a record or
 * a URL is only ever looked up here.
 */
export function jobType(name: string, types: readonly JobType[]): JobType | undefined {
  return types === JOB_TYPES ? BY_NAME.get(name) : types.find((t) => t.name === name);
}

// The registry: every job type this deployment runs, one module each in this
// folder. To add a type, write its module (see docs/job-types.md, "Add your own job
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

/** The registered type of that name, or undefined (a name from a record or a URL is only ever looked up here). */
export function jobType(name: string, types: readonly JobType[] = JOB_TYPES): JobType | undefined {
  return types === JOB_TYPES ? BY_NAME.get(name) : types.find((t) => t.name === name);
}

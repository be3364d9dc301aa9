// What the app's routes are built from: one instance's parts (see instance.ts).
import type { Identity } from "./identity.ts";
import type { Config } from "./config.ts";
import type { JobType } from "../jobs/core/job-type.ts";
import type { JobStore } from "../jobs/core/store.ts";
import type { Renderer } from "./render.ts";
import type { PageReader } from "./status.ts";
import type { Supervisor } from "./supervisor/index.ts";
import type { Telemetry } from "./telemetry.ts";
import type { RedisMemory } from "./redis-memory.ts";
import type { Notifier } from "./notify/notifier.ts";

export interface AppDeps {
  config: Config;
  /** The job types this deployment offers (JOB_TYPES): the only ones with a form, an address or a place in the API document. */
  types: readonly JobType[];
  /** Every type it knows, offered or not (config.types): a job of any of them keeps its title and words on its pages and in /admin. */
  registry: readonly JobType[];
  store: JobStore;
  /** What job pages and the status poll read jobs through: the job cache, or Redis directly. */
  pages: PageReader;
  supervisor: Supervisor;
  renderer: Renderer;
  telemetry: Telemetry;
  /** How full Redis is: the room for new jobs and uploads, refused writes (redis-memory.ts). */
  memory: RedisMemory;
  /** Tells those who asked when a job ends (notify/notifier.ts): the routes hand it an end reported before its request was kept. */
  notifier: Notifier;
  /** Who is asking: the signed-in person, through the site's proxy (identity.ts). */
  identity: Identity;
}

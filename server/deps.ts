// What the app's routes are built from: one instance's parts (see instance.ts).
import type { Config } from "./config.ts";
import type { JobStore } from "../jobs/core/store.ts";
import type { Renderer } from "./render.ts";
import type { PageReader } from "./status.ts";
import type { Supervisor } from "./supervisor/index.ts";
import type { Telemetry } from "./telemetry.ts";

export interface AppDeps {
  config: Config;
  store: JobStore;
  /** What job pages and the status poll read jobs through: the job cache, or Redis directly. */
  pages: PageReader;
  supervisor: Supervisor;
  renderer: Renderer;
  telemetry: Telemetry;
}

// Where the project's folders are, whether this code runs from server/ (tsx)
// or from the bundle in build/server/.
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { JobType } from "../jobs/core/job-type.ts";
import { findRoot } from "../jobs/core/paths.ts";

export const ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));
export const TEMPLATES_DIR = path.join(ROOT, "templates");
export const STATIC_DIR = path.join(ROOT, "static");
export const BUILD_DIR = path.join(ROOT, "build");

/**
 * The script that runs a job of this type: the bundle of a Node type,
 * build/jobs/<type>.js, or the runner, build/jobs/runner.js, for a command.
 * The name comes from the registry, never from a job record.
 */
export function jobScript(type: JobType): string {
  return path.join(BUILD_DIR, "jobs", "node" in type.run ? `${type.name}.js` : "runner.js");
}

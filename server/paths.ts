// Where the project's folders are, whether this code runs from server/ (tsx)
// or from the bundle in build/server/.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(from: string): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

export const ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));
export const TEMPLATES_DIR = path.join(ROOT, "templates");
export const STATIC_DIR = path.join(ROOT, "static");
export const BUILD_DIR = path.join(ROOT, "build");

/** The built script of a job type: build/jobs/<type>.js. */
export function jobScript(type: string): string {
  return path.join(BUILD_DIR, "jobs", `${type}.js`);
}

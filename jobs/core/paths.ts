// The project's folders as a job process finds them. The runner runs from
// its bundle (build/jobs/runner.js) or from a startup snapshot of it, where
// import.meta.url does not exist: the project root is found from the script
// the process was started with (process.argv[1]), upward to package.json.
import fs from "node:fs";
import path from "node:path";

export function findRoot(from: string): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

/** The project root: the folder with package.json above the started script. */
export function projectRoot(script: string | undefined = process.argv[1]): string {
  if (!script) throw new Error("no script path to find the project root from");
  return findRoot(path.dirname(path.resolve(script)));
}

/** Where a command type's "./program" files are: next to the type modules. */
export function jobTypesDir(root: string): string {
  return path.join(root, "jobs", "types");
}

/** JOB_TYPES_DIR's folders: separated by ':', empty entries ignored. */
export function typeFolders(raw: string | undefined, cwd: string): string[] {
  return (raw ?? "")
    .split(":")
    .map((d) => d.trim())
    .filter(Boolean)
    .map((d) => path.resolve(cwd, d));
}

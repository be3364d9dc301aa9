// Whether each command type's program can be started here: checked when an
// instance starts (and by `sidejob check-types`), so that a missing
// interpreter stops the start with a clear line instead of failing every job
// of its type with "The job could not be started.".
import fs from "node:fs";
import path from "node:path";
import { jobTypesDir, projectRoot } from "./paths.ts";
import type { JobType } from "./job-type.ts";

/** Where a type's "./" files are: its own folder (a job.json type), else jobs/types/. */
export function typeDir(type: JobType, root: () => string = projectRoot): string {
  return type.dir ?? jobTypesDir(root());
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** argv[0] as the runner's spawn finds it: a path as it is, a bare name on PATH. */
export function findProgram(name: string, PATH: string | undefined): string | null {
  if (name.includes("/")) return executable(name) ? name : null;
  for (const dir of (PATH || "/usr/local/bin:/usr/bin:/bin").split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/**
 * One line per command type whose program cannot start: argv[0] not on PATH
 * (or, as "./x", not an executable file in the type's folder), or another
 * "./x" argument (the script an interpreter runs) missing. Node types are
 * built with the server; they are not checked here.
 */
export function programProblems(types: readonly JobType[], PATH: string | undefined, root: () => string = projectRoot): string[] {
  const problems: string[] = [];
  for (const type of types) {
    if (!("command" in type.run)) continue;
    const dir = typeDir(type, root);
    const where = type.dir ? path.join(type.dir, "job.json") : `job type ${type.name}`;
    const [program, ...args] = type.run.command;
    if (program!.startsWith("./")) {
      const file = path.join(dir, program!);
      if (!executable(file))
        problems.push(`${where}: run.command[0]: ${file} ${fs.existsSync(file) ? "is not executable (chmod +x it)" : "does not exist"}`);
    } else if (!/^\{.*\}$/.test(program!) && !findProgram(program!, PATH)) {
      problems.push(
        `${where}: run.command[0]: ${JSON.stringify(program)} is not ${program!.includes("/") ? "an executable file" : `on PATH (${PATH || "unset"})`}; install it or correct the command`,
      );
    }
    args.forEach((arg, i) => {
      if (arg.startsWith("./") && !fs.existsSync(path.join(dir, arg)))
        problems.push(`${where}: run.command[${i + 1}]: ${path.join(dir, arg)} does not exist`);
    });
  }
  return problems;
}

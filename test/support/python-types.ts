// A folder of job.json types (JOB_TYPES_DIR), as a deployment declares them,
// each running a Python script of the test's: the folders readable by the
// job's user (a program runs as nobody when the tests run as root), removed
// after the test.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext } from "ava";

/** A job.json type whose program is a Python script: the script, and anything a job.json may declare. */
export interface PythonType {
  name: string;
  script: string;
  fields?: unknown[];
  [key: string]: unknown;
}

/** The folder; each type's job.json is its declaration with `common` under it, and run is `python3 ./program.py`. */
export function pythonTypesDir(t: ExecutionContext, types: PythonType[], common: Record<string, unknown> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-types-"));
  fs.chmodSync(dir, 0o755);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const type of types) {
    const folder = path.join(dir, type.name);
    fs.mkdirSync(folder, { mode: 0o755 });
    fs.writeFileSync(path.join(folder, "program.py"), type.script, { mode: 0o644 });
    const { script: _, fields = [], ...declared } = type;
    fs.writeFileSync(
      path.join(folder, "job.json"),
      JSON.stringify({
        ...common,
        ...declared,
        title: type.name,
        description: type.name,
        fields,
        run: { command: ["/usr/bin/python3", "./program.py"] },
      }),
    );
  }
  return dir;
}

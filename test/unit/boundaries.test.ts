// The code's boundaries (docs/architecture.md, "Code layout"), as `npm run
// boundaries` checks them: dependency-cruiser with the project's own
// .dependency-cruiser.cjs, run on small trees made here, shows that an
// import across a boundary or one that closes a cycle fails the check.
import test from "ava";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../../server/paths.ts";

const DEPCRUISE = path.join(ROOT, "node_modules", ".bin", "depcruise");
const CONFIG = path.join(ROOT, ".dependency-cruiser.cjs");

interface Check {
  code: number;
  output: string;
}

/** Writes the files (path -> text) in a fresh folder and runs the check there, as npm run boundaries does. */
async function check(t: { teardown(fn: () => void): void }, files: Record<string, string>): Promise<Check> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-boundaries-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const compilerOptions = { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true };
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions }));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  const roots = [...new Set(Object.keys(files).map((name) => name.split("/")[0] ?? name))];
  return new Promise((resolve) => {
    execFile(DEPCRUISE, [...roots, "--config", CONFIG, "--no-cache"], { cwd: dir }, (err, stdout, stderr) => {
      const code = err ? 1 : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

const exportOne = "export const value = 1;\n";
const importFrom = (spec: string) => `import { value } from "${spec}";\nexport const other = value;\n`;

test("a tree that keeps the boundaries passes", async (t) => {
  const result = await check(t, {
    "jobs/core/store.ts": exportOne,
    "jobs/runtime/kit.ts": importFrom("../core/store.ts"),
    "jobs/types/count.ts": importFrom("../core/store.ts"),
    "jobs/types/count.job.ts": importFrom("../runtime/kit.ts"),
    "server/app.ts": importFrom("../jobs/types/count.ts"),
  });
  t.is(result.code, 0, result.output);
});

// Each crossing in a folder of its own (a/, b/...), all checked in one run:
// a run costs seconds, the rules are matched on the path's tail.
const crossings: [string, Record<string, string>, string][] = [
  [
    "the core importing the server",
    { "server/app.ts": exportOne, "jobs/core/store.ts": importFrom("../../server/app.ts") },
    "core-imports-no-server",
  ],
  [
    "the core importing the job runtime",
    { "jobs/runtime/kit.ts": exportOne, "jobs/core/store.ts": importFrom("../runtime/kit.ts") },
    "core-imports-no-runtime-or-types",
  ],
  [
    "the job runtime importing the server",
    { "server/app.ts": exportOne, "jobs/runtime/kit.ts": importFrom("../../server/app.ts") },
    "runtime-imports-no-server",
  ],
  [
    "the server importing the job runtime",
    { "jobs/runtime/kit.ts": exportOne, "server/app.ts": importFrom("../jobs/runtime/kit.ts") },
    "server-imports-no-runtime",
  ],
  [
    "the server importing a type's job script",
    { "jobs/types/count.job.ts": exportOne, "server/app.ts": importFrom("../jobs/types/count.job.ts") },
    "server-imports-no-runtime",
  ],
  [
    "a type's declaration importing the job runtime",
    { "jobs/runtime/kit.ts": exportOne, "jobs/types/count.ts": importFrom("../runtime/kit.ts") },
    "registry-imports-no-job-script",
  ],
  [
    "two modules importing each other",
    { "server/a.ts": importFrom("./b.ts"), "server/b.ts": `import { other } from "./a.ts";\nexport const value = other;\n` },
    "no-circular",
  ],
];

test("the check fails on each import that crosses a boundary or closes a cycle, naming its rule", async (t) => {
  const trees = crossings.map(([, files], i) => Object.entries(files).map(([name, text]) => [`case${i}/${name}`, text] as const));
  const result = await check(t, Object.fromEntries(trees.flat()));
  t.not(result.code, 0, result.output);
  crossings.forEach(([what, , rule], i) => {
    t.regex(result.output, new RegExp(`error ${rule}: case${i}/`), `${what}: ${rule}`);
  });
});

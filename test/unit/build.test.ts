// The build (scripts/build.mjs, run by npm test before the tests) makes a V8
// startup snapshot for each Node job type and for the runner: without one, a
// job still runs, from its plain bundle, but starts about twice as slowly, so
// a module that breaks the snapshot (an Intl object or a handle made when it
// loads) must not go unnoticed.
import fs from "node:fs";
import path from "node:path";
import test from "ava";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import { BUILD_DIR } from "../../server/paths.ts";

const blob = (name: string) => path.join(BUILD_DIR, "jobs", `${name}.${process.version}.blob`);

test("every Node job type and the runner have a startup snapshot for this node", (t) => {
  const names = [...JOB_TYPES.filter((type) => "node" in type.run).map((type) => type.name), "runner"];
  t.true(names.length >= 2);
  for (const name of names) t.true(fs.existsSync(blob(name)), `${blob(name)} is missing: see the build's warning`);
});

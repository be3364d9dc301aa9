// The order files start in. The longest start first: the short ones then fill
// the time beside them, instead of the long ones starting last and running
// alone at the end. The browser files take turns at one Chromium
// (test/support/turns.ts), so they are spread through the run: one waiting
// for its turn holds a place of the four and does nothing.
import path from "node:path";

const ORDER = [
  "test/browser/pages.test.ts",
  "test/topologies/cluster.test.ts",
  "test/processes/instances.test.ts",
  "test/processes/hostile.test.ts",
  "test/processes/local-redis.test.ts",
  "test/flow/openapi.test.ts",
  "test/processes/",
  "test/browser/admin.test.ts",
  "test/topologies/",
  "test/browser/csv-check.test.ts",
  "test/flow/a",
  "test/flow/b",
  "test/flow/c",
  "test/browser/flow.test.ts",
  "test/flow/d",
  "test/flow/e",
  "test/flow/f",
  "test/flow/g",
  "test/flow/h",
  "test/flow/i",
  "test/browser/recent.test.ts",
  "test/flow/",
  "test/browser/submit-once.test.ts",
  "test/unit/",
];
/** The first entry a file's path starts with (relative to the project), or after them all. */
const rank = (file) => {
  const relative = path
    .relative(import.meta.dirname, file)
    .split(path.sep)
    .join("/");
  const i = ORDER.findIndex((prefix) => relative.startsWith(prefix));
  return i === -1 ? ORDER.length : i;
};

export default {
  files: ["test/**/*.test.ts"],
  extensions: { ts: "module" },
  nodeArguments: ["--import=tsx"],
  workerThreads: false,
  timeout: "60s",
  concurrency: 4,
  sortTestFiles: (a, b) => rank(a) - rank(b) || a.localeCompare(b),
};

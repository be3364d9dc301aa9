// The longest files start first: the short ones then fill the time beside
// them, instead of the long ones starting last and running alone at the end.
const LONGEST_FIRST = [
  "test/browser/pages.test.ts",
  "test/browser/flow.test.ts",
  "test/flow/burst.test.ts",
  "test/processes/instances.test.ts",
  "test/topologies/cluster.test.ts",
];
const rank = (file) => {
  const i = LONGEST_FIRST.findIndex((name) => file.endsWith(name));
  return i === -1 ? LONGEST_FIRST.length : i;
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

// Builds what runs: the server bundle, one bundle per job script, and the
// static files copied from packages. `--if-needed` skips the build when
// nothing changed since the last one; `--fixtures` also builds the test
// fixture job scripts, and a runner that knows the fixture job types too.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "build");
const stamp = path.join(out, ".stamp");
const args = new Set(process.argv.slice(2));
const sources = ["server", "jobs", "scripts", "package-lock.json"];

function newest(p) {
  const stat = fs.statSync(p);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(p).map((name) => newest(path.join(p, name))));
}

// The stamp names the node version: job snapshots are built for one node binary.
if (
  args.has("--if-needed") &&
  fs.existsSync(stamp) &&
  fs.existsSync(path.join(root, "static", "htmx.min.js")) &&
  fs.readFileSync(stamp, "utf8").includes(` node ${process.version}`)
) {
  const built = fs.statSync(stamp).mtimeMs;
  if (sources.every((s) => !fs.existsSync(path.join(root, s)) || newest(path.join(root, s)) <= built)) process.exit(0);
}

const started = Date.now();

/**
 * The Lua scripts (jobs/core/lua/*.lua), inlined: every build gets a
 * jobs/core/lua/files.ts that returns their texts instead of reading them. A bundle
 * runs from build/, away from jobs/core/lua; a job process opens no more files to
 * start; and the snapshot build is CommonJS, without import.meta.url. The
 * loader (jobs/core/lua/index.ts) then resolves includes as it does from source.
 * `--if-needed` sees a changed .lua file: it is under jobs/, in `sources`.
 */
const luaDir = path.join(root, "jobs", "core", "lua");
const inlineLua = {
  name: "inline-lua",
  setup(b) {
    b.onLoad({ filter: /[\\/]lua[\\/]files\.ts$/ }, (args) => {
      if (args.path !== path.join(luaDir, "files.ts")) return undefined;
      const names = fs
        .readdirSync(luaDir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".lua"))
        .sort();
      const files = Object.fromEntries(names.map((f) => [f.split(path.sep).join("/"), fs.readFileSync(path.join(luaDir, f), "utf8")]));
      return {
        loader: "js",
        contents: `export function luaFiles() { return ${JSON.stringify(files)}; }`,
        watchFiles: names.map((f) => path.join(luaDir, f)),
      };
    });
  },
};
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  logLevel: "warning",
  sourcemap: true,
  plugins: [inlineLua],
};
// CommonJS dependencies bundled into an ES module need a require().
const requireBanner = { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' };

/**
 * The job types, from the registry (jobs/types/index.ts), bundled and
 * imported here: the build learns which types run a Node module from the same
 * list the server reads, not from a pattern in the sources.
 */
async function registeredTypes() {
  const file = path.join(out, "registry.mjs");
  await build({ ...common, sourcemap: false, entryPoints: [path.join(root, "jobs/types/index.ts")], outfile: file, plugins: [inlineLua] });
  const { JOB_TYPES } = await import(`${pathToFileURL(file).href}?${Date.now()}`);
  return JOB_TYPES;
}
fs.mkdirSync(out, { recursive: true });
const types = await registeredTypes();
/**
 * [type name, its module under jobs/types/] for each Node type; build/jobs/<name>.js is what the server starts.
 * Plus the runner (jobs/runtime/runner.ts), which the server starts for every command type.
 */
const jobEntries = [
  ...types.filter((t) => "node" in t.run).map((t) => [t.name, path.join(root, "jobs/types", t.run.node)]),
  ["runner", path.join(root, "jobs/runtime/runner.ts")],
];

/**
 * The fixtures' runner (test/fixtures/runner.ts): the runner's runtime with
 * the registry's types and the fixture types (test/fixtures/types/), built
 * to build/fixtures/runner.js, with a snapshot as the runner's. Tests start
 * it for command types through their instance's scriptFor.
 */
const fixtureRunner = ["runner", path.join(root, "test/fixtures/runner.ts")];

/** <dir>/<name>.<node version>.blob, next to <dir>/<name>.js: server/launchers/local.ts starts the job from it when it exists. */
export function snapshotBlob(name, dir = path.join(out, "jobs")) {
  return path.join(dir, `${name}.${process.version}.blob`);
}

/**
 * A V8 startup snapshot of a job script: its bundle evaluated once, here,
 * so that a job process starts from the saved heap instead of evaluating
 * ioredis and the rest again (see jobs/runtime/snapshot.ts). A snapshot is specific to
 * the node binary, hence the version in its name. If it cannot be built, jobs
 * start from the plain bundle.
 */
async function buildSnapshot([type, entry], dir = path.join(out, "jobs")) {
  const bundle = path.join(dir, `${type}.snapshot.cjs`);
  const blob = snapshotBlob(type, dir);
  for (const old of fs.readdirSync(dir).filter((f) => f.startsWith(`${type}.`) && f.endsWith(".blob"))) {
    fs.rmSync(path.join(dir, old));
  }
  await build({
    ...common,
    sourcemap: false,
    format: "cjs",
    minify: true,
    entryPoints: [entry],
    outfile: bundle,
    plugins: [
      inlineLua,
      {
        name: "job-snapshot",
        setup(b) {
          // The job's runJob() registers the work as the snapshot's main function.
          b.onResolve({ filter: /^(\.\.?\/)+([\w-]+\/)*kit\.ts$/ }, (args) =>
            args.importer === entry ? { path: path.join(root, "jobs/runtime/snapshot.ts") } : undefined,
          );
          // A CommonJS bundle has no top-level await; the stand-in runJob returns at once.
          b.onLoad({ filter: /\.ts$/ }, (args) =>
            args.path === entry
              ? { contents: fs.readFileSync(entry, "utf8").replace(/^(\s*)await runJob\(/m, "$1runJob("), loader: "ts" }
              : undefined,
          );
          // Node 20 cannot snapshot tls and tty ("Unknown external reference"):
          // stand-ins load them on first use, in the started process. debug
          // asks tty.isatty() while the snapshot is built: the answer is no
          // (a job's output goes to its log file).
          b.onResolve({ filter: /^(node:)?(tls|tty)$/ }, (args) => ({ path: args.path.replace(/^node:/, ""), namespace: "lazy-builtin" }));
          b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => ({
            loader: "js",
            contents: `
              const v8 = require("node:v8");
              let real = null;
              const load = () => (real ??= process.getBuiltinModule(${JSON.stringify(args.path)}));
              module.exports = new Proxy({}, {
                get: (_, key) => (key === "isatty" && v8.startupSnapshot.isBuildingSnapshot() ? () => false : load()[key]),
                has: (_, key) => key in load(),
              });`,
          }));
        },
      },
    ],
  });
  try {
    execFileSync(process.execPath, ["--snapshot-blob", blob, "--build-snapshot", bundle], {
      cwd: out,
      stdio: ["ignore", "ignore", "pipe"],
    });
  } catch (err) {
    fs.rmSync(blob, { force: true });
    console.warn(
      `no startup snapshot for ${type} (jobs start from the plain bundle): ${String(err.stderr || err.message)
        .trim()
        .split("\n")
        .slice(0, 5)
        .join("\n")}`,
    );
  }
}

const cliFile = path.join(out, "server/cli.js");
await Promise.all([
  // The server keeps its packages in node_modules.
  build({ ...common, entryPoints: [path.join(root, "server/main.ts")], outfile: path.join(out, "server/main.js"), packages: "external" }),
  // The package's bin (`sidejob start`, `sidejob check-types`): a script the shell runs itself.
  build({
    ...common,
    entryPoints: [path.join(root, "server/cli.ts")],
    outfile: cliFile,
    packages: "external",
    banner: { js: "#!/usr/bin/env node" },
  }).then(() => fs.chmodSync(cliFile, 0o755)),
  // Job scripts are self-contained and minified: every job start parses this file.
  build({
    ...common,
    entryPoints: Object.fromEntries(jobEntries),
    outdir: path.join(out, "jobs"),
    minify: true,
    banner: requireBanner,
  }),
  args.has("--fixtures") &&
    build({
      ...common,
      entryPoints: Object.fromEntries([
        ...fs
          .readdirSync(path.join(root, "test/fixtures/jobs"))
          .filter((f) => f.endsWith(".ts"))
          .map((f) => [f.replace(/\.ts$/, ""), path.join(root, "test/fixtures/jobs", f)]),
        fixtureRunner,
      ]),
      outdir: path.join(out, "fixtures"),
      minify: true,
      banner: requireBanner,
    }),
]);

await Promise.all([
  ...jobEntries.map((entry) => buildSnapshot(entry)),
  args.has("--fixtures") && buildSnapshot(fixtureRunner, path.join(out, "fixtures")),
]);

fs.mkdirSync(path.join(root, "static"), { recursive: true });
fs.copyFileSync(path.join(root, "node_modules/htmx.org/dist/htmx.min.js"), path.join(root, "static/htmx.min.js"));
fs.writeFileSync(stamp, `${new Date().toISOString()} node ${process.version}\n`);
console.log(`built ${jobEntries.length} job script(s) (the runner included) and the server in ${Date.now() - started} ms`);

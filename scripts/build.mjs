// Builds what runs: the server bundle, one bundle per job script, and the
// static files copied from packages. `--if-needed` skips the build when
// nothing changed since the last one; `--fixtures` also builds the test
// fixture job scripts.
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

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

if (args.has("--if-needed") && fs.existsSync(stamp) && fs.existsSync(path.join(root, "static", "htmx.min.js"))) {
  const built = fs.statSync(stamp).mtimeMs;
  if (sources.every((s) => !fs.existsSync(path.join(root, s)) || newest(path.join(root, s)) <= built)) process.exit(0);
}

const started = Date.now();
const common = { bundle: true, platform: "node", target: "node20", format: "esm", logLevel: "warning", sourcemap: true };
// CommonJS dependencies bundled into an ES module need a require().
const requireBanner = { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' };

const jobEntries = fs.readdirSync(path.join(root, "jobs")).filter((f) => /^[a-z-]+\.ts$/.test(f) && isJobScript(f));
function isJobScript(file) {
  return /^\s*await runJob\(/m.test(fs.readFileSync(path.join(root, "jobs", file), "utf8"));
}

await Promise.all([
  // The server keeps its packages in node_modules.
  build({ ...common, entryPoints: [path.join(root, "server/main.ts")], outfile: path.join(out, "server/main.js"), packages: "external" }),
  // Job scripts are self-contained and minified: every job start parses this file.
  build({
    ...common,
    entryPoints: jobEntries.map((f) => path.join(root, "jobs", f)),
    outdir: path.join(out, "jobs"),
    minify: true,
    banner: requireBanner,
  }),
  args.has("--fixtures") &&
    build({
      ...common,
      entryPoints: fs.readdirSync(path.join(root, "test/fixtures/jobs")).filter((f) => f.endsWith(".ts")).map((f) => path.join(root, "test/fixtures/jobs", f)),
      outdir: path.join(out, "fixtures"),
      minify: true,
      banner: requireBanner,
    }),
]);

fs.mkdirSync(path.join(root, "static"), { recursive: true });
fs.copyFileSync(path.join(root, "node_modules/htmx.org/dist/htmx.min.js"), path.join(root, "static/htmx.min.js"));
fs.writeFileSync(stamp, new Date().toISOString() + "\n");
console.log(`built ${jobEntries.length} job script(s) and the server in ${Date.now() - started} ms`);

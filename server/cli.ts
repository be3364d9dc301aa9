// The `sidejob` command, the package's bin (build/server/cli.js):
//   sidejob start                   the server, as `npm start` runs it in a checkout
//   sidejob check-types DIR[:DIR]   checks job type folders as the server's start does
// It builds nothing: an installed package ships build/ and is never written to.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { loadTypeFolders, MANIFEST_FILE } from "../jobs/core/manifest.ts";
import { typeFolders } from "../jobs/core/paths.ts";
import { programProblems } from "../jobs/core/programs.ts";
import { JOB_TYPES } from "../jobs/types/index.ts";
import { BUILD_DIR, ROOT } from "./paths.ts";

const USAGE = `Usage: sidejob <command>

Commands:
  start                  serve the job types: the built-in ones and those of JOB_TYPES_DIR
  check-types DIR[:DIR]  check job type folders (each subfolder holds a job.json) without starting
  help                   this text

Every setting is an environment variable (PORT, REDIS_URL, JOB_TYPES_DIR, ...):
see "Settings" in docs/operations.md, linked from README.md.
`;

function packageJson(): { version: string; scripts: Record<string, string> } {
  return JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string; scripts: Record<string, string> };
}

/**
 * The Node flags of package.json's `npm start` (--max-old-space-size=192: see
 * docs/operations.md, Security), so that both ways of starting bound the heap
 * alike. A flag NODE_OPTIONS sets too is left to NODE_OPTIONS: the operator's choice.
 */
function serverNodeFlags(startScript: string, nodeOptions = ""): string[] {
  const given = new Set(nodeOptions.split(/\s+/).map((flag) => flag.split("=")[0]));
  return startScript
    .split(/\s+/)
    .filter((arg) => arg.startsWith("--"))
    .filter((flag) => !given.has(flag.split("=")[0]));
}

/**
 * A node of its own for the server: the heap bound is a flag of the node
 * binary, given before it starts. Signals are passed on (the server stops
 * gracefully on SIGTERM and SIGINT) and its end is this process's end.
 */
function start(args: string[]): void {
  if (args.length > 0) usageError(`start takes no arguments (got ${args.join(" ")}); settings are environment variables`);
  const main = path.join(BUILD_DIR, "server", "main.js");
  if (!fs.existsSync(main)) fail(`${main} is missing: in a checkout, run npm start (it builds first)`);
  const flags = serverNodeFlags(packageJson().scripts.start ?? "", process.env.NODE_OPTIONS);
  const child = spawn(process.execPath, [...flags, main], { stdio: "inherit" });
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const pass = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of signals) process.on(signal, pass);
  child.on("error", (err) => fail(`cannot start node: ${err.message}`));
  child.on("exit", (code, signal) => {
    for (const s of signals) process.off(s, pass);
    // Ended by a signal: end by the same one, so that whoever started this sees how it ended.
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

/**
 * Checks folders as the server's start does (loadTypeFolders, with the
 * built-in types' names taken, then programProblems): one line per problem, each naming its file,
 * and exit 1; or one line per type found, and exit 0.
 */
function checkTypes(args: string[]): void {
  if (args.length !== 1) usageError("check-types takes one argument: the folders, separated by ':'");
  const dirs = typeFolders(args[0], process.cwd());
  if (dirs.length === 0) usageError("check-types: no folder given");
  const { types, problems } = loadTypeFolders(
    dirs,
    JOB_TYPES.map((t) => t.name),
  );
  // Their programs as this machine's PATH finds them, as the start checks them.
  problems.push(...programProblems(types, process.env.PATH, () => ROOT));
  for (const dir of dirs) {
    if (fs.existsSync(path.join(dir, MANIFEST_FILE)))
      problems.push(`${dir}: holds ${MANIFEST_FILE} itself; name the folder above it (each type is a subfolder)`);
  }
  if (problems.length === 0 && types.length === 0) problems.push(`${dirs.join(":")}: no job types (no subfolder holding ${MANIFEST_FILE})`);
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`${problem}\n`);
    process.exit(1);
  }
  for (const type of types) process.stdout.write(`${type.name}: ${type.title} (${type.dir})\n`);
}

function fail(message: string): never {
  process.stderr.write(`sidejob: ${message}\n`);
  process.exit(1);
}

function usageError(message: string): never {
  process.stderr.write(`sidejob: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case "start":
    start(rest);
    break;
  case "check-types":
    checkTypes(rest);
    break;
  case undefined:
  case "help":
  case "--help":
  case "-h":
    process.stdout.write(USAGE);
    break;
  case "--version":
  case "-v":
    process.stdout.write(`${packageJson().version}\n`);
    break;
  default:
    usageError(`unknown command: ${command}`);
}

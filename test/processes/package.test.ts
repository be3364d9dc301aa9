// sidejob as an npm package: the tarball `npm pack` makes, installed offline
// into an empty project, serves job types from folders outside the checkout
// (`npx sidejob start` with JOB_TYPES_DIR), `npx sidejob check-types` checks
// them, and a bad folder stops the start with a message naming its file. It
// packs the build that is there (`node scripts/build.mjs` first, as for
// every process test): building here would rewrite build/ under the other
// test files running beside this one.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import test, { type ExecutionContext } from "ava";
import { BUILD_DIR, ROOT } from "../../server/paths.ts";
import { freePort } from "../support/ports.ts";
import { isAlive, killProcessesIn } from "../support/procs.ts";
import { useRedis } from "../support/redis.ts";
import { SERVER_NODE_ARGS } from "../support/server.ts";
import { fileScoped } from "../support/scope.ts";
import { uniquePrefix } from "../support/app.ts";
import { waitFor, within } from "../support/wait.ts";

const run = promisify(execFile);
const redis = useRedis(test);

/** A type folder's files, by name. */
type Folder = Record<string, string>;

const PYTHON_TYPE: Folder = {
  "job.json": JSON.stringify({
    name: "shout",
    title: "Shout a text",
    description: "The text in capitals, and its words.",
    fields: [{ name: "text", kind: "text", label: "Text", maxLength: 200 }],
    run: { command: ["python3", "./tool.py"] },
    jobTitle: "Shout {text}",
  }),
  "tool.py": `import json, os, sys
params = json.load(sys.stdin)
assert json.loads(os.environ["SIDEJOB_PARAMS"]) == params
messages = os.fdopen(int(os.environ["SIDEJOB_FD"]), "w", buffering=1)
words = params["text"].split()
messages.write(json.dumps({"total": len(words), "status": "Shouting"}) + "\\n")
for done, word in enumerate(words, 1):
    messages.write(json.dumps({"done": done, "result": word.upper()}) + "\\n")
print("shouted", len(words), "words", flush=True)
`,
};

const SHELL_TYPE: Folder = {
  "job.json": JSON.stringify({
    name: "measure",
    title: "Measure a word",
    description: "How many characters a word has.",
    fields: [{ name: "word", kind: "text", label: "Word", maxLength: 50 }],
    run: { command: ["sh", "./tool.sh", "{word}"] },
  }),
  "tool.sh": `#!/bin/sh
set -eu
echo '{"status": "Measuring"}' >&3
echo "{\\"done\\": 1, \\"total\\": 1, \\"result\\": {\\"word\\": \\"$1\\", \\"length\\": \${#1}}}" >&3
`,
};

/** A job.json with no run, and a field of a kind there is not. */
const INVALID_TYPE: Folder = {
  "job.json": JSON.stringify({
    name: "broken",
    title: "Broken",
    description: "Declares no command.",
    fields: [{ name: "n", kind: "integr", label: "N" }],
  }),
};

const MISSING_INTERPRETER_TYPE: Folder = {
  "job.json": JSON.stringify({
    name: "orphan",
    title: "Orphan",
    description: "Its interpreter is not installed.",
    fields: [],
    run: { command: ["sidejob-no-such-interpreter", "./tool.py"] },
  }),
  "tool.py": "print('never run')\n",
};

/** Folders of type folders: JOB_TYPES_DIR's value is one of them. */
function typeFolders(parent: string, types: Record<string, Folder>): string {
  fs.mkdirSync(parent);
  for (const [name, files] of Object.entries(types)) {
    fs.mkdirSync(path.join(parent, name));
    for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(parent, name, file), text, { mode: 0o755 });
  }
  return parent;
}

/**
 * The project's package-lock.json, holding the versions the checkout's lock
 * gives sidejob's dependencies (its entries that are not for development
 * only), and no sidejob yet. An install without a lock asks the registry for
 * every package's full metadata, which npm's cache does not keep offline;
 * with these entries there is nothing to ask, and npm installs the tarball's
 * dependencies from the cache by their integrity, as `npm ci` does.
 */
function seedLockfile(project: string): void {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const { name, version } = JSON.parse(fs.readFileSync(path.join(project, "package.json"), "utf8")) as { name: string; version: string };
  const packages = Object.fromEntries(Object.entries(lock.packages).filter(([where, entry]) => where !== "" && !entry.dev));
  fs.writeFileSync(
    path.join(project, "package-lock.json"),
    JSON.stringify({ name, version, lockfileVersion: 3, requires: true, packages: { "": { name, version }, ...packages } }, null, 2),
  );
}

/** Every file under dir, relative, sorted. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => !fs.statSync(path.join(dir, f)).isDirectory())
    .sort();
}

interface Installed {
  /** The temp folder everything of this file is in: the tarball, the project, the type folders. */
  work: string;
  project: string;
  tarball: { file: string; bytes: number; files: string[] };
  installMs: number;
  /** The installed package's files right after the install. */
  packageFiles: string[];
  types: { good: string; invalid: string; missingInterpreter: string };
}

const installed = fileScoped(
  test,
  "the installed package",
  async (): Promise<Installed> => {
    if (!fs.existsSync(path.join(BUILD_DIR, "server", "cli.js"))) throw new Error("no build: run node scripts/build.mjs first");
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-package-"));
    // The type folders' programs are run as the job's user (nobody, when the tests run as root): readable by it, as a deployment's are.
    fs.chmodSync(work, 0o755);
    try {
      // npm's own settings of this run (under `npm test`: its prefix, its scripts) stay out of these npm commands.
      const env = projectEnv();
      // --ignore-scripts: prepack would build again (see the top of this file).
      const { stdout } = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], { cwd: ROOT, env });
      const [packed] = JSON.parse(stdout) as { filename: string; size: number; files: { path: string }[] }[];
      const project = path.join(work, "project");
      fs.mkdirSync(project);
      await run("npm", ["init", "-y"], { cwd: project, env });
      seedLockfile(project);
      const started = Date.now();
      await run("npm", ["install", "--offline", "--no-audit", "--no-fund", path.join(work, packed!.filename)], { cwd: project, env });
      const installMs = Date.now() - started;
      return {
        work,
        project,
        tarball: { file: packed!.filename, bytes: packed!.size, files: packed!.files.map((f) => f.path) },
        installMs,
        packageFiles: filesUnder(path.join(project, "node_modules", "sidejob")),
        types: {
          good: typeFolders(path.join(work, "types"), { shout: PYTHON_TYPE, measure: SHELL_TYPE }),
          invalid: typeFolders(path.join(work, "invalid"), { shout: PYTHON_TYPE, broken: INVALID_TYPE }),
          missingInterpreter: typeFolders(path.join(work, "missing"), { orphan: MISSING_INTERPRETER_TYPE }),
        },
      };
    } catch (err) {
      fs.rmSync(work, { recursive: true, force: true });
      throw err;
    }
  },
  ({ work }) => {
    killProcessesIn(work);
    fs.rmSync(work, { recursive: true, force: true });
    return Promise.resolve();
  },
);

/** The project's environment: the test's, with npm's settings of this run left out. */
function projectEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("npm_"))) as Record<string, string>;
  return { ...env, ...extra };
}

interface Started {
  /** The started command's pid (npx's, or the CLI's when started directly). */
  pid: number;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * `npx sidejob start` (or the command given) in the project, in a process group of its own: npx,
 * the CLI and the server are stopped together when the test ends.
 */
function sidejobStart(
  t: ExecutionContext,
  env: Record<string, string>,
  [command, ...args]: [string, ...string[]] = ["npx", "sidejob", "start"],
): Started {
  const proc = spawn(command, args, {
    cwd: installed.project,
    env: projectEnv(env),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("close", (code) => resolve(code)));
  t.teardown(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid!, signal);
      } catch {
        // the group is gone
      }
    };
    group("SIGTERM");
    await within(exited, 10_000, "the server to stop").catch(() => group("SIGKILL"));
  });
  return { pid: proc.pid!, output: () => out, exited };
}

async function submit(url: string, type: string, params: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${url}/jobs/new/${type}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(params),
  });
  if (res.status !== 202) throw new Error(`POST /jobs/new/${type}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

interface JobJson {
  state: string;
  title: string;
  results: unknown[];
}

async function ended(url: string, id: string): Promise<JobJson> {
  return waitFor(
    async () => {
      const job = (await (await fetch(`${url}/jobs/${id}`, { headers: { accept: "application/json" } })).json()) as JobJson;
      return ["succeeded", "failed", "cancelled"].includes(job.state) ? job : null;
    },
    { timeout: 30_000, message: `job ${id} to end` },
  );
}

test("the tarball holds the built server, its templates, static files and the built-in type programs, and nothing of the tests", (t) => {
  const { files } = installed.tarball;
  for (const needed of [
    "build/server/cli.js",
    "build/server/main.js",
    "build/jobs/runner.js",
    "templates/layout.eta",
    "static/htmx.min.js",
    "docs/job.schema.json",
    "jobs/types/primes.py",
  ])
    t.true(files.includes(needed), needed);
  t.deepEqual(
    files.filter((f) => /^(test|bench|scripts|server|node_modules|\.ci|build\/fixtures)\/|\.ts$|\.map$|\.blob$|registry\.mjs/.test(f)),
    [],
  );
  t.log(
    `tarball ${installed.tarball.file}: ${installed.tarball.bytes} bytes, ${files.length} files; offline install ${installed.installMs} ms`,
  );
});

/** `npx sidejob check-types dir` in the project: its exit code and output. */
async function checkTypes(dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run("npx", ["sidejob", "check-types", dir], { cwd: installed.project, env: projectEnv() }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

test("npx sidejob check-types lists the types of a folder, and names the file and the problem of a bad manifest or a missing interpreter", async (t) => {
  const [good, bad, orphan] = await Promise.all(
    [installed.types.good, installed.types.invalid, installed.types.missingInterpreter].map(checkTypes),
  );
  t.is(good!.code, 0, good!.stderr);
  t.regex(good!.stdout, /^measure: Measure a word \(.*measure\)$/m);
  t.regex(good!.stdout, /^shout: Shout a text \(.*shout\)$/m);
  t.is(bad!.code, 1);
  const file = path.join(installed.types.invalid, "broken", "job.json");
  t.true(bad!.stderr.includes(`${file}: run: is required`), bad!.stderr);
  t.true(bad!.stderr.includes(`${file}: fields[0].kind: must be one of`), bad!.stderr);
  t.is(orphan!.code, 1);
  const orphanFile = path.join(installed.types.missingInterpreter, "orphan", "job.json");
  t.true(orphan!.stderr.includes(`${orphanFile}: run.command[0]: "sidejob-no-such-interpreter"`), orphan!.stderr);
});

test("npx sidejob start serves a Python type and a shell type from folders outside the checkout, writing nothing into the package", async (t) => {
  const port = await freePort();
  const server = sidejobStart(t, {
    REDIS_URL: redis.url,
    REDIS_PREFIX: uniquePrefix("package"),
    PORT: String(port),
    HOST: "127.0.0.1",
    JOB_TYPES_DIR: installed.types.good,
    JOB_TYPES: "shout,measure",
  });
  await waitFor(() => server.output().includes("listening on"), {
    timeout: 60_000,
    message: () => `the installed server to listen (output: ${server.output()})`,
  });
  const url = `http://127.0.0.1:${port}`;
  const [shout, measure] = await Promise.all([
    submit(url, "shout", { text: "hello package world" }).then((id) => ended(url, id)),
    submit(url, "measure", { word: "sidejob" }).then((id) => ended(url, id)),
  ]);
  t.is(shout.state, "succeeded");
  t.is(shout.title, "Shout hello package world");
  t.deepEqual(shout.results, ["HELLO", "PACKAGE", "WORLD"]);
  t.is(measure.state, "succeeded");
  t.deepEqual(measure.results, [{ word: "sidejob", length: 7 }]);
  // The built-in templates: the home page offers the two types.
  const home = await (await fetch(`${url}/`)).text();
  t.regex(home, /Shout a text/);
  t.regex(home, /Measure a word/);
  t.is((await fetch(`${url}/static/htmx.min.js`)).status, 200);
  // Job logs go under the working directory (JOB_LOG_DIR's default), never into the package.
  t.true(fs.readdirSync(path.join(installed.project, "var", "log", "jobs")).length >= 2);
  t.deepEqual(filesUnder(path.join(installed.project, "node_modules", "sidejob")), installed.packageFiles);
});

test("an invalid job.json stops npm start in the project, naming the file and the problem", async (t) => {
  const pkg = path.join(installed.project, "package.json");
  const manifest = JSON.parse(fs.readFileSync(pkg, "utf8")) as { scripts: Record<string, string> };
  fs.writeFileSync(pkg, JSON.stringify({ ...manifest, scripts: { ...manifest.scripts, start: "sidejob start" } }, null, 2));
  const failed = await run("npm", ["start"], {
    cwd: installed.project,
    env: projectEnv({ REDIS_URL: redis.url, PORT: "0", JOB_TYPES_DIR: installed.types.invalid }),
  }).catch((err: { code: number; stdout: string; stderr: string }) => err);
  t.not((failed as { code?: number }).code ?? 0, 0);
  const output = `${failed.stdout}${failed.stderr}`;
  t.true(output.includes(`${path.join(installed.types.invalid, "broken", "job.json")}: run: is required`), output);
});

test("a type whose interpreter is not installed stops npx sidejob start, naming the file and the program", async (t) => {
  const server = sidejobStart(t, { REDIS_URL: redis.url, PORT: "0", JOB_TYPES_DIR: installed.types.missingInterpreter });
  let code: number | null | undefined;
  void server.exited.then((c) => (code = c));
  // A server that listens has not refused: that ends the wait at once.
  await waitFor(() => code !== undefined || server.output().includes("listening on"), {
    timeout: 60_000,
    message: () => `the server to refuse (output: ${server.output()})`,
  });
  t.not(code, undefined, `the server started: ${server.output()}`);
  t.not(code, 0);
  t.true(server.output().includes(path.join(installed.types.missingInterpreter, "orphan", "job.json")), server.output());
  t.regex(server.output(), /sidejob-no-such-interpreter/);
});

test("sidejob start runs the server in a node of its own with npm start's heap bound, passes SIGTERM on, and exits with the server's code", async (t) => {
  const cli = path.join(installed.project, "node_modules", ".bin", "sidejob");
  const server = sidejobStart(t, { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix("package-signal"), PORT: "0", JOB_TYPES: "count" }, [
    cli,
    "start",
  ]);
  await waitFor(() => server.output().includes("listening on"), {
    timeout: 60_000,
    message: () => `the installed server to listen (output: ${server.output()})`,
  });
  // The instance id is host:pid:random; its pid is the server's node.
  const serverPid = Number(/"instance":"[^"]*:(\d+):[0-9a-f]+"/.exec(server.output())?.[1]);
  t.not(serverPid, server.pid);
  const argv = fs.readFileSync(`/proc/${serverPid}/cmdline`, "utf8").split("\0");
  t.true(SERVER_NODE_ARGS.length > 0);
  for (const flag of SERVER_NODE_ARGS) t.true(argv.includes(flag), `${flag} in ${argv.join(" ")}`);
  process.kill(server.pid, "SIGTERM");
  t.is(await within(server.exited, 30_000, "the CLI to exit"), 0);
  t.regex(server.output(), /SIGTERM, stopping/);
  await waitFor(() => !isAlive(serverPid), { message: "the server process to end" });
});

test("sidejob with no command prints its usage; an unknown command prints it too and exits 2", async (t) => {
  const cli = path.join(installed.project, "node_modules", ".bin", "sidejob");
  const { stdout } = await run(cli, [], { cwd: installed.project });
  t.regex(stdout, /^Usage: sidejob <command>/);
  const unknown = await run(cli, ["serve"], { cwd: installed.project }).catch((err: { code: number; stderr: string }) => err);
  t.is((unknown as { code?: number }).code, 2);
  t.regex(unknown.stderr, /unknown command: serve[\s\S]*Usage: sidejob <command>/);
});

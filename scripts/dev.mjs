// `npm run dev`: builds, starts the server, and on every change under server/
// or jobs/ rebuilds and restarts it; on a change in JOB_TYPES_DIR's folders
// (job.json types) it restarts it, which reads them again. Templates need no restart: outside
// production they are read from disk on each render. Job processes already
// running keep the code they started with; new jobs start from the new build.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WATCHED = ["server", "jobs"];
/** Editors write a file in several steps: wait for the burst to end. */
const SETTLE_MS = 150;

let server = null;
let timer = null;
let building = false;
let again = false;

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
    child.once("exit", (code) => resolve(code === 0));
  });
}

function startServer() {
  server = spawn(process.execPath, ["--enable-source-maps", "build/server/main.js"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? "development" },
  });
  const child = server;
  child.once("exit", (code, signal) => {
    if (server === child && !signal) console.log(`dev: the server exited with code ${code}; waiting for a change`);
    if (server === child) server = null;
  });
}

function stopServer() {
  const child = server;
  server = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
}

async function rebuild() {
  if (building) {
    again = true;
    return;
  }
  building = true;
  do {
    again = false;
    if (await run(["scripts/build.mjs"])) {
      await stopServer();
      startServer();
    } else {
      console.log("dev: the build failed; the server keeps running the last good build");
    }
  } while (again);
  building = false;
}

for (const dir of WATCHED) {
  fs.watch(path.join(root, dir), { recursive: true }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void rebuild(), SETTLE_MS);
  });
}

// The job types of JOB_TYPES_DIR: read at start, so a change needs a restart, not a build.
const typeDirs = (process.env.JOB_TYPES_DIR ?? "")
  .split(":")
  .map((d) => d.trim())
  .filter(Boolean)
  .map((d) => path.resolve(d));
let restartTimer = null;
for (const dir of typeDirs) {
  if (!fs.existsSync(dir)) continue;
  fs.watch(dir, { recursive: true }, () => {
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      if (building) return;
      console.log("dev: a job type changed; restarting");
      void stopServer().then(startServer);
    }, SETTLE_MS);
  });
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => void stopServer().then(() => process.exit(0)));
}
console.log(`dev: watching ${[...WATCHED.map((d) => `${d}/`), ...typeDirs].join(", ")} (Ctrl-C stops)`);
void rebuild();

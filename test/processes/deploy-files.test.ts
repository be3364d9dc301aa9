// The shipped deploy/ files pass their tools' own checks: `systemd-analyze
// verify` on the units (with no warning at all: it exits 0 even on an
// unknown key), `caddy validate` on the Caddyfile. Each is checked as
// shipped; only what names this host's files is rewritten in a copy (the
// ExecStart binary, which exists only once installed), and the test says
// which lines differ.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import test, { type ExecutionContext } from "ava";
import { ROOT } from "../../server/paths.ts";

const run = promisify(execFile);
const DEPLOY = path.join(ROOT, "deploy");
const INSTALLED_BIN = "/opt/sidejob/node_modules/.bin/sidejob";

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-deploy-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The lines of b that are not a's, in order. */
function linesChanged(a: string, b: string): string[] {
  const before = a.split("\n");
  return b.split("\n").filter((line, i) => line !== before[i]);
}

/**
 * Runs `systemd-analyze verify` on a unit of deploy/ as shipped but for its
 * ExecStart, which names a stand-in executable (the install's binary is not
 * on this machine), copied under the name `as`.
 */
async function verify(t: ExecutionContext, file: string, as = file): Promise<{ stdout: string; stderr: string }> {
  const dir = tempDir(t);
  const standIn = path.join(dir, "bin", "sidejob");
  fs.mkdirSync(path.dirname(standIn));
  fs.writeFileSync(standIn, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const shipped = fs.readFileSync(path.join(DEPLOY, file), "utf8");
  const copy = shipped.replaceAll(INSTALLED_BIN, standIn);
  t.deepEqual(linesChanged(shipped, copy), [`ExecStart=${standIn} start`], "only ExecStart's path is rewritten");
  fs.writeFileSync(path.join(dir, as), copy);
  return run("systemd-analyze", ["verify", `./${as}`], { cwd: dir, timeout: 15_000 });
}

test("deploy/sidejob.service passes systemd-analyze verify without a warning", async (t) => {
  const { stdout, stderr } = await verify(t, "sidejob.service");
  t.is(stderr, "");
  t.is(stdout, "");
});

test("deploy/sidejob@.service passes systemd-analyze verify without a warning, as an instance", async (t) => {
  const { stdout, stderr } = await verify(t, "sidejob@.service", "sidejob@3001.service");
  t.is(stderr, "");
  t.is(stdout, "");
});

test("the unit stops the server alone (KillMode=process), so running jobs outlive a stop or restart", (t) => {
  for (const file of ["sidejob.service", "sidejob@.service"]) {
    const unit = fs.readFileSync(path.join(DEPLOY, file), "utf8");
    t.regex(unit, /^KillMode=process$/m, file);
    t.regex(unit, /^Environment=NODE_ENV=production$/m, file);
    t.regex(unit, /^EnvironmentFile=\/etc\/sidejob\/sidejob\.env$/m, file);
    t.regex(unit, new RegExp(`^ExecStart=${INSTALLED_BIN.replaceAll(".", "\\.")} start$`, "m"), file);
  }
});

test("the template unit is sidejob.service but for the lines that name the instance (%i)", (t) => {
  const settings = (file: string) =>
    fs
      .readFileSync(path.join(DEPLOY, file), "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"));
  const single = settings("sidejob.service");
  const template = settings("sidejob@.service");
  const perInstance = ["Description=", "Environment=PORT=", "SyslogIdentifier="];
  t.deepEqual(
    template.filter((line) => !line.includes("%i")),
    single.filter((line) => !perInstance.some((start) => line.startsWith(start))),
  );
});

test("deploy/Caddyfile passes caddy validate", async (t) => {
  const dir = tempDir(t);
  // Caddy keeps its state under XDG_DATA_HOME and XDG_CONFIG_HOME: here, not in the user's home.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  const { stdout, stderr } = await run("caddy", ["validate", "--config", path.join(DEPLOY, "Caddyfile"), "--adapter", "caddyfile"], {
    env,
    timeout: 15_000,
  });
  t.regex(stdout + stderr, /Valid configuration/);
  // The adapter warns about a file that is not as `caddy fmt` would write it, or a directive it ignores.
  t.notRegex(stderr, /"level":"warn"/);
});

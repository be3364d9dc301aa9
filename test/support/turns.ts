// Taking turns between the test files of one ava run, which run in processes
// of their own: a file holds a named turn while it uses something too heavy
// for two files at once on a small machine (a Chromium: two or three of them
// beside the other files starved every process of CPU for seconds).
// The turn is a file created exclusively, holding its owner's pid; one whose
// owner has died is taken over. It is scoped to the run (ava's process, the
// parent of every file's), so runs started beside this one never wait for it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isAlive } from "./procs.ts";
import { waitFor } from "./wait.ts";

/** Longer than any file holds a turn: set-up, not a bound under test. */
const TURN_WAIT_MS = 15 * 60_000;

function tryTake(file: string): boolean {
  try {
    fs.writeFileSync(file, String(process.pid), { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const owner = Number(fs.readFileSync(file, "utf8").trim() || "0");
  // An owner that died without giving the turn back (or one still writing its pid: seen again at the next try).
  if (owner > 0 && !isAlive(owner)) fs.rmSync(file, { force: true });
  return false;
}

/**
 * Waits until no other file of this run holds the turn `name`, takes it, and
 * returns the function that gives it back.
 */
export async function takeTurn(name: string): Promise<() => void> {
  const file = path.join(os.tmpdir(), `sidejob-turn-${name}-${process.ppid}`);
  await waitFor(() => tryTake(file), { timeout: TURN_WAIT_MS, interval: 200, message: `the turn to use ${name}` });
  return () => {
    try {
      if (fs.readFileSync(file, "utf8") === String(process.pid)) fs.rmSync(file);
    } catch {
      // already gone
    }
  };
}

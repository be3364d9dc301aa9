// Reading another process's command line from /proc (Linux). The server uses
// it to check that a pid still runs the job it expects before signalling it:
// pids are reused, so a pid recorded in Redis may belong to anything by now.
import fs from "node:fs";

/**
 * The argv of process `pid`, from /proc/<pid>/cmdline; null when there is no
 * such process or it cannot be read. A zombie reads as an empty list.
 */
export function readArgv(pid: number): string[] | null {
  let raw: string;
  try {
    raw = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return null;
  }
  const argv = raw.split("\0");
  if (argv.at(-1) === "") argv.pop();
  return argv;
}

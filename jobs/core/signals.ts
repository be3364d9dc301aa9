// Signals to a list of processes, one by one (a job's cgroup, a process
// group's members): those already gone are passed over.

/** Sends sig to each pid but those excepted; true when it reached at least one. */
export function signalEach(pids: Iterable<number>, sig: NodeJS.Signals, except: ReadonlySet<number> = new Set()): boolean {
  let sent = false;
  for (const pid of pids) {
    if (except.has(pid)) continue;
    try {
      process.kill(pid, sig);
      sent = true;
    } catch {
      // gone
    }
  }
  return sent;
}

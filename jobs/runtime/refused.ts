// Writes a job process sends again while Redis refuses them (out of memory,
// a failed save: StoreWriteRefusedError). A full Redis is an outage, not the
// job's failure: nothing was written, so the same write is sent again.
import { setTimeout as sleep } from "node:timers/promises";
import { StoreWriteRefusedError } from "../core/store.ts";

/**
 * How soon a write Redis refused (out of memory, StoreWriteRefusedError) is
 * tried again. Nothing was written, so the same write is sent again; the
 * lease is renewed this soon after Redis accepts writes again, well within
 * the grace the supervisor and reads give (one lease: core.ts WriteRefusals).
 */
export const REFUSED_RETRY_MS = 250;

/**
 * Sends a write until Redis accepts it: while it refuses writes (a full
 * Redis is an outage, not the job's failure), waits REFUSED_RETRY_MS and
 * sends it again; says so once on stderr. Any other error is thrown, and so
 * is the signal's reason once it is aborted.
 */
export async function untilAccepted<T>(what: string, send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  let said = false;
  for (;;) {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof StoreWriteRefusedError)) throw err;
      if (!said) process.stderr.write(`${what}: ${err.message}; trying again until Redis accepts it\n`);
      said = true;
      await sleep(REFUSED_RETRY_MS, undefined, signal ? { signal } : {}).catch(() => {});
      if (signal?.aborted) throw signal.reason;
    }
  }
}

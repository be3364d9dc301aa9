// The operators' audit trail: one entry for each action an operator takes on
// jobs (cancel, retry, delete, a bulk action), newest first, in one list
// shared by every instance (keys.ts, audit()), at most AUDIT_MAX entries:
// the oldest go first. An entry names who (the signed-in operator, or the
// shared password), what, which jobs (the first AUDIT_JOBS_MAX ids, and how
// many in all) and when, and how it went.
import type { StoreCore } from "./core.ts";

/** Entries kept: the oldest go past it. */
export const AUDIT_MAX = 10_000;
/** Job ids kept in one entry (a bulk action names how many more). */
export const AUDIT_JOBS_MAX = 100;

export interface AuditEntry {
  /** When (ms). */
  at: number;
  /** Who: an operator named by sign-in (ADMIN_USERS), or the shared password's session. */
  who: string;
  /** "cancel", "retry", "delete", "bulk:cancel-queued", "bulk:retry-failed"... */
  action: string;
  /** The jobs acted on (the first AUDIT_JOBS_MAX), and how many in all. */
  jobs: string[];
  count: number;
  /** How it went, in words: "cancelled", "retried as <id>", "3 done, 1 skipped". */
  outcome: string;
}

export async function appendAudit(core: StoreCore, entry: AuditEntry): Promise<void> {
  const key = core.keys.audit();
  const value = JSON.stringify({ ...entry, jobs: entry.jobs.slice(0, AUDIT_JOBS_MAX) });
  await core.call((r) =>
    r
      .multi()
      .lpush(key, value)
      .ltrim(key, 0, AUDIT_MAX - 1)
      .exec(),
  );
}

/** The newest `limit` entries, newest first; an entry that cannot be read is left out. */
export async function readAudit(core: StoreCore, limit: number): Promise<AuditEntry[]> {
  const values = await core.call((r) => r.lrange(core.keys.audit(), 0, limit - 1));
  return values.flatMap((value) => {
    try {
      const entry = JSON.parse(value) as AuditEntry;
      return typeof entry.at === "number" && typeof entry.who === "string" ? [entry] : [];
    } catch {
      return [];
    }
  });
}

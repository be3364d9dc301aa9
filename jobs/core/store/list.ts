// The operators' jobs list, read from its index: one sorted set per type and
// state in each partition (lua/includes/index.lua), id -> createdAt. A page
// reads a page of each set that matches and merges them, newest first.
import { scored, type StoreCore } from "./core.ts";
import {
  isJobId,
  isReason,
  isState,
  JOB_STATES,
  num,
  parseParams,
  str,
  usageOf,
  type EndReason,
  type JobState,
  type JobUsage,
} from "./record.ts";

/** Where a page of the jobs list ends: the last entry's creation time and id. */
export interface ListCursor {
  createdAt: number;
  id: string;
}

export interface ListFilter {
  /** The types to list (every known type when none is chosen). */
  types: readonly string[];
  states?: readonly JobState[];
  /** Created at or after / at or before (ms). */
  from?: number;
  to?: number;
  /** Ids starting with these hex digits (a whole id finds that job). */
  idPrefix?: string;
}

/** A job as the jobs list shows it. */
export interface JobRow {
  id: string;
  type: string;
  params: Record<string, unknown>;
  state: JobState;
  reason: EndReason | null;
  error: string | null;
  exitCode: number | null;
  signal: string | null;
  done: number;
  total: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  cancelRequestedAt: number | null;
  retryOf: string | null;
  retriedAs: string | null;
  /** What the ended job used, when it was measured (record.ts, JobRecord.usage). */
  usage: JobUsage | null;
}

export interface IndexSet {
  key: string;
  type: string;
  state: JobState;
}

interface IndexEntry {
  id: string;
  createdAt: number;
  set: string;
}

const ROW_FIELDS = [
  "type",
  "params",
  "state",
  "reason",
  "error",
  "exitCode",
  "signal",
  "done",
  "total",
  "startedAt",
  "finishedAt",
  "cancelRequestedAt",
  "retryOf",
  "retriedAs",
  "peakMemoryBytes",
  "cpuMs",
] as const;

/** The index's sets for these types and states, in every partition. */
export function indexSets(core: StoreCore, types: readonly string[], states: readonly JobState[]): IndexSet[] {
  return core.keys.bases.flatMap((b) =>
    types.flatMap((type) => states.map((state) => ({ key: core.keys.indexSet(b, type, state), type, state }))),
  );
}

/**
 * Ties of createdAt are ordered by id; the cursor is the last entry's
 * (createdAt, id). An entry whose job has expired is dropped from the index
 * on the way.
 */
export async function listJobs(
  core: StoreCore,
  filter: ListFilter,
  limit: number,
  after: ListCursor | null,
): Promise<{ rows: JobRow[]; next: ListCursor | null }> {
  const states = filter.states?.length ? filter.states : JOB_STATES;
  const sets = indexSets(core, filter.types, states);
  for (let attempt = 0; ; attempt++) {
    const entries =
      filter.idPrefix !== undefined ? await scanIdPrefix(core, sets, filter, after) : await page(core, sets, filter, limit, after);
    const entriesOfPage = entries.slice(0, limit);
    const rows = await readRows(core, entriesOfPage);
    const gone = entriesOfPage.filter((_, i) => rows[i] === null);
    if (gone.length > 0) await core.call((r) => Promise.all(gone.map((e) => r.zrem(e.set, e.id))));
    if (gone.length === 0 || attempt === 2) {
      const last = entriesOfPage.at(-1);
      return {
        rows: rows.filter((row): row is JobRow => row !== null),
        next: entries.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
      };
    }
  }
}

/** Index entries read at once for a person's jobs, and pages of them read at most for one page of rows. */
const USER_BATCH = 200;
const USER_BATCHES_MAX = 10;

/**
 * A page of a signed-in person's jobs ("my jobs"), newest first, from their
 * set in each partition, of the types and states asked for (none: all).
 * The sets hold every job of theirs whatever its state, so a filter is
 * applied to the rows read: one page reads USER_BATCHES_MAX batches of
 * entries at most, and when those hold fewer rows than asked, `next` goes on
 * where they stopped. An entry whose job has expired is dropped on the way.
 */
export async function userJobs(
  core: StoreCore,
  user: string,
  filter: { types?: readonly string[]; states?: readonly JobState[] },
  limit: number,
  after: ListCursor | null,
): Promise<{ rows: JobRow[]; next: ListCursor | null }> {
  const sets = core.keys.bases.map((b) => ({ key: core.keys.userSet(b, user), type: "", state: "queued" as const }));
  const wanted = (row: JobRow) =>
    (!filter.types?.length || filter.types.includes(row.type)) && (!filter.states?.length || filter.states.includes(row.state));
  const rows: JobRow[] = [];
  let cursor = after;
  for (let batch = 0; batch < USER_BATCHES_MAX; batch++) {
    const entries = await page(core, sets, { types: [] }, USER_BATCH, cursor);
    const read = await readRows(core, entries.slice(0, USER_BATCH));
    const gone = entries.filter((_, i) => i < USER_BATCH && read[i] === null);
    if (gone.length > 0) await core.call((r) => Promise.all(gone.map((e) => r.zrem(e.set, e.id))));
    for (const row of read) {
      if (row === null || !wanted(row)) continue;
      rows.push(row);
      if (rows.length > limit)
        return { rows: rows.slice(0, limit), next: { createdAt: rows[limit - 1]!.createdAt, id: rows[limit - 1]!.id } };
    }
    const last = entries[Math.min(entries.length, USER_BATCH) - 1];
    if (entries.length <= USER_BATCH || !last) return { rows, next: null };
    cursor = { createdAt: last.createdAt, id: last.id };
  }
  return { rows, next: cursor };
}

/** Up to limit + 1 entries after the cursor, newest first, from every set. */
async function page(core: StoreCore, sets: IndexSet[], filter: ListFilter, limit: number, after: ListCursor | null): Promise<IndexEntry[]> {
  const min = filter.from === undefined ? "-inf" : String(filter.from);
  let max = filter.to === undefined ? "+inf" : String(filter.to);
  if (after && (filter.to === undefined || after.createdAt <= filter.to)) max = `(${after.createdAt}`;
  const replies = await core.call((r) =>
    Promise.all(
      sets.map(async (s) => {
        const older = r.zrange(s.key, max, min, "BYSCORE", "REV", "LIMIT", 0, limit + 1, "WITHSCORES");
        // Entries with the cursor's own time, which the exclusive bound above leaves out.
        const tied =
          after && (filter.from === undefined || after.createdAt >= filter.from)
            ? r.zrange(s.key, after.createdAt, String(after.createdAt), "BYSCORE", "WITHSCORES")
            : Promise.resolve([]);
        return [...scored(await tied), ...scored(await older)];
      }),
    ),
  );
  const entries: IndexEntry[] = [];
  replies.forEach((reply, i) => {
    for (const [id, createdAt] of reply) entries.push({ id, createdAt, set: sets[i]!.key });
  });
  return sortEntries(entries, after).slice(0, limit + 1);
}

/** The entries whose id starts with the prefix (ZSCAN: it reads every entry of the sets), newest first. */
async function scanIdPrefix(core: StoreCore, sets: IndexSet[], filter: ListFilter, after: ListCursor | null): Promise<IndexEntry[]> {
  const prefix = filter.idPrefix ?? "";
  if (!/^[0-9a-f]{0,32}$/.test(prefix)) return [];
  const entries: IndexEntry[] = [];
  const whole = prefix.length === 32;
  for (const s of sets) {
    if (whole) {
      const score = await core.call((r) => r.zscore(s.key, prefix));
      if (score !== null) entries.push({ id: prefix, createdAt: Number(score), set: s.key });
      continue;
    }
    let cursor = "0";
    do {
      const [next, flat] = await core.call((r) => r.zscan(s.key, cursor, "MATCH", `${prefix}*`, "COUNT", 1000));
      cursor = next;
      for (const [id, createdAt] of scored(flat)) entries.push({ id, createdAt, set: s.key });
    } while (cursor !== "0");
  }
  return sortEntries(entries, after).filter(
    (e) => (filter.from === undefined || e.createdAt >= filter.from) && (filter.to === undefined || e.createdAt <= filter.to),
  );
}

/** The fields a list row shows, for each entry; null where the job has expired. */
async function readRows(core: StoreCore, entries: IndexEntry[]): Promise<(JobRow | null)[]> {
  const replies = await core.call((r) => Promise.all(entries.map((e) => r.hmget(core.keys.job(e.id), ...ROW_FIELDS))));
  return replies.map((v, i) => {
    if (v[2] === null) return null;
    const h = Object.fromEntries(ROW_FIELDS.map((f, k) => [f, v[k] ?? undefined])) as Record<
      (typeof ROW_FIELDS)[number],
      string | undefined
    >;
    return {
      id: entries[i]!.id,
      type: h.type ?? "unknown",
      params: parseParams(h.params),
      state: isState(h.state) ? h.state : "failed",
      reason: isReason(h.reason) ? h.reason : null,
      error: str(h.error),
      exitCode: num(h.exitCode),
      signal: str(h.signal),
      done: Number(h.done ?? 0),
      total: Number(h.total ?? 0),
      createdAt: entries[i]!.createdAt,
      startedAt: num(h.startedAt),
      finishedAt: num(h.finishedAt),
      cancelRequestedAt: num(h.cancelRequestedAt),
      retryOf: isJobId(h.retryOf) ? h.retryOf : null,
      retriedAs: isJobId(h.retriedAs) ? h.retriedAs : null,
      usage: usageOf(num(h.peakMemoryBytes), num(h.cpuMs)),
    };
  });
}

export async function allIds(core: StoreCore, types: readonly string[], states: readonly JobState[], max: number): Promise<string[]> {
  const sets = indexSets(core, types, states);
  const replies = await core.call((r) =>
    Promise.all(sets.map((s) => r.zrange(s.key, "+inf", "-inf", "BYSCORE", "REV", "LIMIT", 0, max, "WITHSCORES"))),
  );
  const entries: IndexEntry[] = [];
  replies.forEach((reply, i) => {
    for (const [id, createdAt] of scored(reply)) entries.push({ id, createdAt, set: sets[i]!.key });
  });
  return sortEntries(entries, null)
    .slice(0, max)
    .map((e) => e.id);
}

export async function countIn(core: StoreCore, types: readonly string[], states: readonly JobState[]): Promise<number> {
  const sizes = await core.call((r) => Promise.all(indexSets(core, types, states).map((s) => r.zcard(s.key))));
  return sizes.reduce((a, b) => a + b, 0);
}

export async function trimIndex(
  core: StoreCore,
  types: readonly { type: string; ttlSucceededS: number; ttlFailedS: number }[],
  checks: number,
  partition?: number,
): Promise<number> {
  const { keys } = core;
  const args = types.flatMap((t) => [t.type, t.ttlSucceededS, t.ttlFailedS]);
  const bases = partition === undefined ? keys.bases : [keys.bases[partition % keys.bases.length]!];
  const dropped = await Promise.all(bases.map((b) => core.call((r) => r.sjTrim(keys.index(b), keys.jobPrefix(b), checks, ...args))));
  return dropped.reduce((a, n) => a + n, 0);
}

/** Newest first (createdAt, then id, both descending), only entries after the cursor. */
function sortEntries(entries: IndexEntry[], after: ListCursor | null): IndexEntry[] {
  const seen = new Set<string>();
  return entries
    .filter((e) => !after || e.createdAt < after.createdAt || (e.createdAt === after.createdAt && e.id < after.id))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
}

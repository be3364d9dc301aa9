// Reads of jobs: one job whole (its record, results, log tail, files) in one
// round trip, pages of its results, a few facts of many jobs, and the sizes
// of the queues and leases. What the operators read: operator.ts, list.ts.
import type { Cluster } from "ioredis";
import { timeMs, type StoreCore } from "./core.ts";
import { parseRecord, parseResult, parseSummary, SUMMARY_FIELDS, type FileEntry, type JobRecord, type JobSummary } from "./record.ts";

export interface ReadOptions {
  /** At most this many results, from the first (0: no limit). */
  resultLimit?: number;
  /** At most this many bytes of results (their JSON texts), from the first, which is always read (0: no limit). */
  resultBytes?: number;
  /** How many of the log's last lines to read. */
  logLines?: number;
  /** The listing of the files of a job that has ended. */
  files?: boolean;
}

/** One job in one round trip (lua/read-9.lua), or null; a job found lost on the way goes to core.onEnded. */
export async function readWithFiles(
  core: StoreCore,
  id: string,
  results: "all" | "auto",
  { resultLimit = 0, resultBytes = 0, logLines = 0, files = true }: ReadOptions,
): Promise<{ job: JobRecord; files: FileEntry[]; resultBytes: number } | null> {
  const { keys } = core;
  const readKeys = [...keys.jobAndIndexes(id), keys.log(id), keys.files(id), keys.beat(id)] as const;
  const reply = await core.call((r) =>
    r.sjRead(...readKeys, id, results, ...core.ttl, resultLimit, logLines, files ? "1" : "0", core.mayRecordLost ? "1" : "0", resultBytes),
  );
  if (reply.length === 1) return null;
  const [readAt, flat, values, queuePosition, resultCount, logTail, logCount, leaseExpiry, fileList, recordedLost] = reply;
  const job = parseRecord(id, flat, { readAt, results: values, queuePosition, resultCount, logTail, logCount, leaseExpiry });
  if (recordedLost === 1) core.onEnded?.({ id, seen: "read" });
  if (recordedLost === 2) core.onRetried?.(job);
  const listing: FileEntry[] = [];
  for (let i = 0; i < fileList.length; i += 2) listing.push({ name: String(fileList[i]), size: Number(fileList[i + 1]) });
  return { job, files: listing, resultBytes: values.reduce((n: number, v: string) => n + v.length, 0) };
}

export async function readResults(core: StoreCore, id: string, start: number, stop: number): Promise<unknown[]> {
  const values = await core.call((r) => r.lrange(core.keys.jobKeys(id)[1], start, stop));
  return values.map(parseResult);
}

export async function summaries(core: StoreCore, ids: readonly string[]): Promise<(JobSummary | null)[]> {
  if (ids.length === 0) return [];
  const replies = await core.call((r) => Promise.all(ids.map((id) => r.hmget(core.keys.job(id), ...SUMMARY_FIELDS))));
  return ids.map((id, i) => parseSummary(id, replies[i]!));
}

export async function activeCounts(core: StoreCore): Promise<{ queued: number; running: number }> {
  const replies = await core.call((r) =>
    Promise.all(core.keys.partitions.map(({ queueKey, leasesKey }) => Promise.all([r.llen(queueKey), r.zcard(leasesKey)]))),
  );
  let queued = 0;
  let running = 0;
  for (const [q, n] of replies) {
    queued += q;
    running += n;
  }
  return { queued, running };
}

/** used_memory and maxmemory (bytes; 0: no limit) of Redis, or of each master of a Cluster (INFO memory). */
export async function memory(core: StoreCore): Promise<{ usedBytes: number; maxBytes: number }[]> {
  const replies = await core.call((r) => {
    const nodes = r.isCluster ? (r as Cluster).nodes("master") : [r];
    return Promise.all(nodes.map((node) => node.info("memory")));
  });
  return replies.map((text) => {
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(text)?.[1] ?? 0);
    return { usedBytes: field("used_memory"), maxBytes: field("maxmemory") };
  });
}

/** Straight on the connection, not through call(): no deadline, not counted. */
export async function queueLength(core: StoreCore): Promise<number> {
  const lengths = await Promise.all(core.keys.partitions.map(({ queueKey }) => core.redis.llen(queueKey)));
  return lengths.reduce((sum, n) => sum + n, 0);
}

/** Straight on the connection, as queueLength. */
export async function leasedIds(core: StoreCore): Promise<string[]> {
  return core.eachPartition(({ leasesKey }) => core.redis.zrange(leasesKey, "0", "-1"));
}

export async function now(core: StoreCore): Promise<number> {
  return timeMs(await core.call((r) => r.time()));
}

// What the operators' pages ask of the store besides the jobs list
// (list.ts): removing an ended job, marking a retry, the instances'
// heartbeats and registry, and the counts and charts of the overview.
import { scored, timeMs, type StoreCore } from "./core.ts";
import { indexSets } from "./list.ts";
import { isJobId, JOB_STATES, type JobState } from "./record.ts";

export type DeleteReply = { deleted: true; state: JobState } | { deleted: false; state: JobState | "" };
export type MinuteCounts = { minute: number; succeeded: number; failed: number; cancelled: number; lost: number };

// --- Actions on one job

export async function deleteJob(core: StoreCore, id: string): Promise<DeleteReply> {
  const reply = await core.call((r) => r.sjDelete(core.keys.job(id), core.keys.partition(id).indexPrefix, id));
  return reply[0] === 1 ? { deleted: true, state: reply[1] } : { deleted: false, state: reply[1] };
}

export async function markRetried(core: StoreCore, id: string, newId: string): Promise<boolean> {
  if (!isJobId(newId)) throw new Error(`not a job id: ${JSON.stringify(newId)}`);
  return (await core.call((r) => r.sjRetried(core.keys.job(id), newId))) === 1;
}

// --- The instances

export async function heartbeat(core: StoreCore, instanceId: string, facts: object, ttlMs: number): Promise<void> {
  const { keys } = core;
  await core.call((r) => r.sjBeat(keys.beats(), keys.instances(), instanceId, JSON.stringify(facts), ttlMs));
}

/**
 * Samples the queue length for this minute (the queue chart) of the
 * partitions whose queue is not empty, of those `also` names (the caller's
 * last non-empty ones: their 0 is a sample too), and of the first, so that
 * the minute has a sample whatever waits (the chart sums the partitions;
 * one with none this minute adds nothing). Returns the partitions that were
 * not empty, for the next sample's `also`.
 */
export async function sampleQueues(core: StoreCore, also: readonly number[] = []): Promise<number[]> {
  const { keys } = core;
  const nonEmpty = await core.partitionsWith((p) => [p.queueKey]);
  const sampled = new Set([0, ...also, ...nonEmpty].filter((i) => i < keys.bases.length));
  await Promise.all([...sampled].map((i) => core.call((r) => r.sjSample(keys.queue(keys.bases[i]!), keys.queueSamples(keys.bases[i]!)))));
  return nonEmpty;
}

export async function instances(core: StoreCore): Promise<{ now: number; instances: { id: string; facts: Record<string, unknown> }[] }> {
  const { keys } = core;
  const [now, beats, facts] = await core.call(async (r) => {
    const [time, beats, facts] = await Promise.all([
      r.time(),
      r.zrange(keys.beats(), "0", "-1", "WITHSCORES"),
      r.hgetall(keys.instances()),
    ]);
    return [timeMs(time), scored(beats), facts] as const;
  });
  const live: { id: string; facts: Record<string, unknown> }[] = [];
  for (const [id, until] of beats) {
    if (until <= now || facts[id] === undefined) continue;
    try {
      live.push({ id, facts: JSON.parse(facts[id]) as Record<string, unknown> });
    } catch {
      // Not written by an instance: left out.
    }
  }
  return { now, instances: live };
}

// --- Counts and charts, summed over the partitions

export async function counts(core: StoreCore, types: readonly string[]): Promise<Record<string, Record<JobState, number>>> {
  const out: Record<string, Record<JobState, number>> = {};
  const sets = indexSets(core, types, JOB_STATES);
  const sizes = await core.call((r) => Promise.all(sets.map((s) => r.zcard(s.key))));
  for (const t of types) out[t] = Object.fromEntries(JOB_STATES.map((st) => [st, 0])) as Record<JobState, number>;
  sets.forEach((s, i) => (out[s.type]![s.state] += sizes[i] ?? 0));
  return out;
}

export async function oldestQueuedAt(core: StoreCore, types: readonly string[]): Promise<number | null> {
  const sets = indexSets(core, types, ["queued"]);
  const firsts = await core.call((r) => Promise.all(sets.map((s) => r.zrange(s.key, "0", "0", "WITHSCORES"))));
  const times = firsts.flatMap((f) => scored(f).map(([, score]) => score));
  return times.length ? Math.min(...times) : null;
}

export async function totalQueueLength(core: StoreCore): Promise<number> {
  const { keys } = core;
  const lengths = await core.call((r) => Promise.all(keys.bases.map((b) => r.llen(keys.queue(b)))));
  return lengths.reduce((a, b) => a + b, 0);
}

export async function endedPerMinute(core: StoreCore, now: number, minutes: number): Promise<MinuteCounts[]> {
  const { keys } = core;
  const last = Math.floor(now / 60000);
  const wanted = Array.from({ length: minutes }, (_, i) => last - minutes + 1 + i);
  const replies = await core.call((r) =>
    Promise.all(keys.bases.flatMap((b) => wanted.map((m) => r.hmget(keys.endedInMinute(b, m), "s", "f", "c", "l")))),
  );
  return wanted.map((minute, i) => {
    const sum = [0, 0, 0, 0];
    for (let b = 0; b < keys.bases.length; b++) replies[b * minutes + i]!.forEach((v, k) => (sum[k]! += Number(v ?? 0)));
    return { minute: minute * 60000, succeeded: sum[0]!, failed: sum[1]!, cancelled: sum[2]!, lost: sum[3]! };
  });
}

export async function durations(
  core: StoreCore,
  types: readonly string[],
  now: number,
  hours: number,
): Promise<Record<string, Map<number, number>>> {
  const { keys } = core;
  const last = Math.floor(now / 3600_000);
  const hourKeys = keys.bases.flatMap((b) =>
    types.flatMap((t) => Array.from({ length: hours }, (_, i) => ({ type: t, key: keys.durationsInHour(b, t, last - i) }))),
  );
  const replies = await core.call((r) => Promise.all(hourKeys.map((k) => r.hgetall(k.key))));
  const out: Record<string, Map<number, number>> = Object.fromEntries(types.map((t) => [t, new Map<number, number>()]));
  hourKeys.forEach((k, i) => {
    for (const [bucket, count] of Object.entries(replies[i] ?? {})) {
      const m = out[k.type]!;
      m.set(Number(bucket), (m.get(Number(bucket)) ?? 0) + Number(count));
    }
  });
  return out;
}

/** Histograms of what jobs used: bucket b holds peak memories up to 2^(b/4) bytes, CPU times up to 2^(b/4) ms. */
export interface UsageBuckets {
  peakMemoryBytes: Map<number, number>;
  cpuMs: Map<number, number>;
}

/**
 * What the jobs of each type that ended in the last `hours` used, summed
 * over the partitions: one HGETALL per partition, type and hour (each hash
 * holds at most a few hundred buckets), whatever the number of jobs.
 */
export async function usage(core: StoreCore, types: readonly string[], now: number, hours: number): Promise<Record<string, UsageBuckets>> {
  const { keys } = core;
  const last = Math.floor(now / 3600_000);
  const hourKeys = keys.bases.flatMap((b) =>
    types.flatMap((t) => Array.from({ length: hours }, (_, i) => ({ type: t, key: keys.usageInHour(b, t, last - i) }))),
  );
  const replies = await core.call((r) => Promise.all(hourKeys.map((k) => r.hgetall(k.key))));
  const out: Record<string, UsageBuckets> = Object.fromEntries(types.map((t) => [t, { peakMemoryBytes: new Map(), cpuMs: new Map() }]));
  hourKeys.forEach((k, i) => {
    for (const [field, count] of Object.entries(replies[i] ?? {})) {
      const m = field[0] === "m" ? out[k.type]!.peakMemoryBytes : field[0] === "c" ? out[k.type]!.cpuMs : null;
      const bucket = Number(field.slice(1));
      if (m && Number.isInteger(bucket)) m.set(bucket, (m.get(bucket) ?? 0) + Number(count));
    }
  });
  return out;
}

export async function queueSamples(core: StoreCore, now: number): Promise<{ minute: number; length: number | null }[]> {
  const { keys } = core;
  const last = Math.floor(now / 60000);
  const replies = await core.call((r) => Promise.all(keys.bases.map((b) => r.hgetall(keys.queueSamples(b)))));
  const out: { minute: number; length: number | null }[] = [];
  for (let m = last - 59; m <= last; m++) {
    let length: number | null = null;
    for (const samples of replies) {
      const [minute, value] = (samples[String(m % 60)] ?? "").split(":");
      if (Number(minute) === m) length = (length ?? 0) + Number(value);
    }
    out.push({ minute: m * 60000, length });
  }
  return out;
}

/** A submitter with jobs waiting, as /admin shows the queue by submitter (lua/includes/turns.lua). */
export interface SubmitterQueue {
  who: string;
  waiting: number;
  running: number;
  /** When its last job was taken (ms), or null when none has been yet: the oldest goes next. */
  lastTurnAt: number | null;
}

/** The submitters next in turn (up to `limit` in each partition, merged over every partition), next first. */
export async function submitterQueues(core: StoreCore, limit: number): Promise<SubmitterQueue[]> {
  const { keys } = core;
  const bySd = new Map<string, SubmitterQueue>();
  for (const base of keys.bases) {
    const turns = scored(await core.call((r) => r.zrange(keys.turns(base), "0", String(limit - 1), "WITHSCORES")));
    if (turns.length === 0) continue;
    const sds = turns.map(([sd]) => sd);
    const [waiting, names, running] = await core.call((r) =>
      Promise.all([
        Promise.all(sds.map((sd) => r.llen(keys.submitterQueue(base, sd)))),
        r.hmget(keys.submitterNames(base), ...sds),
        r.hmget(keys.submitterRunning(base), ...sds),
      ]),
    );
    turns.forEach(([sd, at], i) => {
      const before = bySd.get(sd);
      const lastTurnAt = at > 0 ? at : null;
      bySd.set(sd, {
        who: before?.who ?? names[i] ?? "unknown",
        waiting: (before?.waiting ?? 0) + waiting[i]!,
        running: (before?.running ?? 0) + Number(running[i] ?? 0),
        lastTurnAt: before ? Math.max(before.lastTurnAt ?? 0, lastTurnAt ?? 0) || null : lastTurnAt,
      });
    });
  }
  return [...bySd.values()].sort((a, b) => (a.lastTurnAt ?? 0) - (b.lastTurnAt ?? 0)).slice(0, limit);
}

// Partitions: how jobs spread over the shards of a Redis Cluster.
//
// Every key of a job, and every index entry that names it (queue, leases,
// kills), lives under its partition's base, "P:{tag}:", so one Redis Cluster
// hash tag holds them all and each transition stays one atomic script on one
// slot. A job's partition follows from its id, so any process finds its keys
// from the id alone.
//
// With one partition (the default) the tag is "jobs": the layout sidejob has
// always had. With more, each partition gets a tag whose hash slot lies in
// its own 1/N of the slot range. Redis Cluster gives each master a run of
// slots, so the partitions, and the jobs with them, spread over the masters
// in proportion to their slots, whatever the tags hash to by chance.
import calculateSlot from "cluster-key-slot";

/** Redis Cluster's hash slots. */
export const CLUSTER_SLOTS = 16384;
/** The partitions of a deployment on a Redis Cluster, unless REDIS_PARTITIONS says otherwise. */
export const CLUSTER_PARTITIONS = 16;
/** The most partitions a deployment may have. */
export const MAX_PARTITIONS = 1024;

/** Hash tags for `count` partitions: "jobs" for one; for more, tag i hashes into slots [i, i+1) * 16384 / count. */
export function partitionTags(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_PARTITIONS) {
    throw new RangeError(`partitions: expected 1 to ${MAX_PARTITIONS}, got ${count}`);
  }
  if (count === 1) return ["jobs"];
  const tags: (string | undefined)[] = new Array<string | undefined>(count);
  let missing = count;
  for (let n = 0; missing > 0; n++) {
    const tag = `jobs-${n}`;
    const bucket = Math.floor((calculateSlot(tag) * count) / CLUSTER_SLOTS);
    if (tags[bucket] === undefined) {
      tags[bucket] = tag;
      missing--;
    }
  }
  return tags as string[];
}

/** The partition of a job id (32 hex digits): its first 8 digits, mod the count. */
export function partitionOf(id: string, count: number): number {
  return count === 1 ? 0 : Number.parseInt(id.slice(0, 8), 16) % count;
}

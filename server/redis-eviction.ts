// The start's check of Redis's eviction policy (REDIS_EVICTION_CHECK). Every
// key sidejob writes is a job's state, an index entry, a lease or an upload:
// a policy that evicts (allkeys-lru, volatile-ttl, …) would silently drop a
// running job's lease or a waiting job from the queue once memory is full.
// Only `noeviction` keeps everything (Redis then refuses writes, which
// sidejob treats as an outage). See docs/deploy.md, "Redis in production".
import { Cluster } from "ioredis";
import type { RedisClient } from "../jobs/core/redis.ts";

export const EVICTION_CHECKS = ["refuse", "warn"] as const;
export type EvictionCheck = (typeof EVICTION_CHECKS)[number];

/** Why the start was refused: the message names the policy, the node and the setting. */
export class EvictionPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EvictionPolicyError";
  }
}

/** Each master's `maxmemory-policy`: one entry for a single Redis (or Sentinel's master), one per master of a Cluster. */
async function policies(redis: RedisClient): Promise<{ node: string; policy: string }[]> {
  const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
  return Promise.all(
    nodes.map(async (node) => {
      const reply = (await node.config("GET", "maxmemory-policy")) as unknown;
      // RESP2 answers [name, value], RESP3 a map.
      const value: unknown = Array.isArray(reply)
        ? reply[1]
        : reply instanceof Map
          ? reply.get("maxmemory-policy")
          : (reply as Record<string, unknown> | null)?.["maxmemory-policy"];
      const policy = typeof value === "string" ? value : "";
      const { host, port, path } = node.options;
      return { node: path ?? `${host}:${port}`, policy };
    }),
  );
}

/**
 * Reads the policy and refuses (throws EvictionPolicyError) or warns about an
 * evicting one. A Redis that refuses CONFIG (an ACL without it, a managed
 * Redis that renames it) cannot be checked: one line says so and the start
 * goes on.
 */
export async function checkEvictionPolicy(redis: RedisClient, mode: EvictionCheck, log: (line: string) => void): Promise<void> {
  let found: { node: string; policy: string }[];
  try {
    found = await policies(redis);
  } catch (err) {
    log(
      `sidejob: cannot read Redis's maxmemory-policy (${(err as Error).message.split("\n")[0]}); not checked: make sure it is noeviction (docs/deploy.md)`,
    );
    return;
  }
  const evicting = found.filter((f) => f.policy !== "" && f.policy !== "noeviction");
  if (evicting.length === 0) return;
  const which = evicting.map((f) => `${f.policy} on ${f.node}`).join(", ");
  const why = `Redis evicts keys when its memory is full (maxmemory-policy ${which}): it would silently delete jobs, leases and uploads`;
  if (mode === "refuse") {
    throw new EvictionPolicyError(
      `${why}. Set maxmemory-policy noeviction in redis.conf (CONFIG SET maxmemory-policy noeviction), or start anyway with REDIS_EVICTION_CHECK=warn`,
    );
  }
  log(`sidejob: ${why}; starting anyway (REDIS_EVICTION_CHECK=warn). Set maxmemory-policy noeviction`);
}

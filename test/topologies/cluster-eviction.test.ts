// The start's check of maxmemory-policy on a Redis Cluster: every master is
// read, and one that evicts is enough to refuse the start, named by its
// address.
import test from "ava";
import { EvictionPolicyError } from "../../server/redis-eviction.ts";
import { InstanceError } from "../../server/instance.ts";
import { launchApp } from "../support/app.ts";
import { useCluster } from "../support/cluster.ts";

const cluster = useCluster(test);

test("on a Cluster, one master with an evicting policy refuses the start, naming that master", async (t) => {
  const [port] = await cluster.masterPorts();
  const node = cluster.nodes.find((n) => n.port === port)!;
  await node.client.config("SET", "maxmemory-policy", "volatile-lru");
  t.teardown(() => node.client.config("SET", "maxmemory-policy", "noeviction"));
  const err = await t.throwsAsync(launchApp({ redis: { env: cluster.env }, name: "cluster-evict" }), { instanceOf: InstanceError });
  t.is(err.step, "eviction");
  t.true(err.cause instanceof EvictionPolicyError);
  t.regex(err.message, new RegExp(`maxmemory-policy volatile-lru on 127\\.0\\.0\\.1:${port}\\b`));
  t.regex(err.message, /REDIS_EVICTION_CHECK=warn/);
});

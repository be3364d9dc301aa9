// A real Redis Cluster for tests: three masters and three replicas, each a
// redis-server with --cluster-enabled on a free loopback port and a folder of
// its own, joined with `redis-cli --cluster create`. Nothing is kept on disk
// but each node's nodes.conf; everything is removed afterwards.
//   startCluster()      call close() yourself
//   useCluster(test)    shared by a test file; removed after its last test
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { TestFn } from "ava";
import { Cluster, Redis } from "ioredis";
import { redisTlsArgs, type TestCertificates } from "./tls.ts";
import { freePort } from "./ports.ts";
import { fileScoped } from "./scope.ts";
import { waitFor, within } from "./wait.ts";

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  /** Its cluster bus port (given explicitly: port + 10000 may be out of range for a free port). */
  busPort: number;
  dir: string;
  proc: ChildProcess | null;
  /** A plain connection to this node alone, for CLUSTER and INFO commands. */
  client: Redis;
}

export interface TestCluster {
  /** The settings that point sidejob at it (with TLS and a user, those too). */
  env: Record<string, string> & { REDIS_CLUSTER_NODES: string; REDIS_PASSWORD: string };
  nodes: ClusterNode[];
  /** A Cluster client for assertions. */
  client: Cluster;
  /** The ports of the nodes that are masters now, as each live node sees itself. */
  masterPorts(): Promise<number[]>;
  /** The master port that serves a key's slot now. */
  masterOf(key: string): Promise<number>;
  /** SIGKILL of one node; resolves once it has exited. */
  kill(port: number): Promise<void>;
  /**
   * Starts a killed node again: it rejoins from its nodes.conf, as a replica
   * of whoever took its slots; resolves once it is in sync and every node
   * says cluster_state:ok.
   */
  restart(port: number): Promise<void>;
  /** Waits until a live node has taken over the slots of a killed master, and every live node says cluster_state:ok. */
  waitForFailover(killedPort: number, timeout?: number): Promise<number>;
  close(): Promise<void>;
}

const NODE_TIMEOUT_MS = 2000;
/** How long a failover may take (waitForFailover's default): a few seconds on a quiet machine, many more on a busy one. */
export const FAILOVER_MS = 30_000;

async function info(client: Redis, section: string): Promise<string> {
  return client.info(section);
}

async function clusterInfo(client: Redis): Promise<string> {
  return await client.cluster("INFO");
}

/** `CLUSTER NODES` as this node sees them: port, flags, and slot ranges. */
async function clusterNodes(client: Redis): Promise<{ port: number; flags: string[]; master: string; id: string; slots: string[] }[]> {
  const text = (await client.cluster("NODES")) as string;
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(" ");
      return { id: id!, port: Number(/:(\d+)@/.exec(address!)?.[1]), flags: flags!.split(","), master: master!, slots };
    });
}

/** The password every node of a test cluster asks for. */
export const CLUSTER_PASSWORD = "cluster-test-password-0123";

export interface ClusterOptions {
  masters?: number;
  /** TLS only, on every node, between the nodes too; the env gives sidejob REDIS_TLS and the CA. */
  tls?: TestCertificates;
  /** An ACL user made on every node; the env gives sidejob this user rather than the default one. */
  user?: { name: string; password: string; rules: string[] };
}

export async function startCluster({ masters = 3, tls, user }: ClusterOptions = {}): Promise<TestCluster> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-cluster-"));
  const tlsOptions = tls && { ca: [fs.readFileSync(tls.ca)], servername: "localhost" };
  const nodes: ClusterNode[] = [];
  const closing: Promise<void>[] = [];
  for (let i = 0; i < masters * 2; i++) {
    const port = await freePort();
    const busPort = await freePort();
    const dir = path.join(root, String(port));
    fs.mkdirSync(dir);
    const client = new Redis({
      port,
      host: "127.0.0.1",
      password: CLUSTER_PASSWORD,
      tls: tlsOptions,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 200,
    });
    client.on("error", () => {});
    nodes.push({ port, busPort, dir, proc: null, client });
  }
  let initialMasters: number[] = [];
  const spawnNode = (node: ClusterNode) => {
    node.proc = spawn(
      "redis-server",
      [
        // Every node asks for a password, as a production cluster does: sidejob gets it as REDIS_PASSWORD.
        "--requirepass",
        CLUSTER_PASSWORD,
        "--masterauth",
        CLUSTER_PASSWORD,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        String(NODE_TIMEOUT_MS),
        "--cluster-port",
        String(node.busPort),
        ...(tls ? [...redisTlsArgs(tls, node.port), "--tls-cluster", "yes", "--tls-replication", "yes"] : ["--port", String(node.port)]),
        "--bind",
        "127.0.0.1",
        "--dir",
        node.dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        "--logfile",
        path.join(node.dir, "redis.log"),
      ],
      { stdio: "ignore" },
    );
  };
  const live = () => nodes.filter((n) => n.proc && n.proc.exitCode === null && n.proc.signalCode === null);

  const handle: TestCluster = {
    env: {
      REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(","),
      REDIS_PASSWORD: user?.password ?? CLUSTER_PASSWORD,
      ...(user ? { REDIS_USERNAME: user.name } : {}),
      ...(tls ? { REDIS_TLS: "on", REDIS_TLS_CA: tls.ca } : {}),
    },
    nodes,
    client: new Cluster(
      nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
      { lazyConnect: true, retryDelayOnFailover: 200, maxRedirections: 100, redisOptions: { password: CLUSTER_PASSWORD, tls: tlsOptions } },
    ),
    async masterPorts() {
      const ports: number[] = [];
      for (const node of live()) {
        const mine = (await clusterNodes(node.client)).find((n) => n.flags.includes("myself"));
        if (mine?.flags.includes("master") && mine.slots.length > 0) ports.push(node.port);
      }
      return ports.sort((a, b) => a - b);
    },
    async masterOf(key) {
      const slot = Number(await live()[0]!.client.cluster("KEYSLOT", key));
      for (const node of live()) {
        const mine = (await clusterNodes(node.client)).find((n) => n.flags.includes("myself"));
        if (!mine?.flags.includes("master")) continue;
        for (const range of mine.slots) {
          const [from, to = from] = range.split("-").map(Number);
          if (slot >= from! && slot <= to!) return node.port;
        }
      }
      throw new Error(`no live master serves slot ${slot} of ${key}`);
    },
    async kill(port) {
      const node = nodes.find((n) => n.port === port);
      const proc = node?.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill("SIGKILL");
      await exited;
    },
    async restart(port) {
      const node = nodes.find((n) => n.port === port)!;
      if (node.proc && node.proc.exitCode === null && node.proc.signalCode === null) return;
      spawnNode(node);
      await waitFor(
        async () => {
          const replication = await info(node.client, "replication");
          if (!replication.includes("role:slave") || !replication.includes("master_link_status:up")) return false;
          const states = await Promise.all(live().map((n) => clusterInfo(n.client)));
          return states.every((state) => state.includes("cluster_state:ok"));
        },
        { timeout: 30_000, interval: 100, message: `node ${port} to rejoin as a replica, in sync` },
      );
      initialMasters = await handle.masterPorts();
    },
    async waitForFailover(killedPort, timeout = FAILOVER_MS) {
      let promoted = 0;
      await waitFor(
        async () => {
          const views = await Promise.all(live().map((n) => clusterNodes(n.client)));
          // The killed node is marked failed and holds no slots in every live node's view.
          const done = views.every((view) => {
            const dead = view.find((n) => n.port === killedPort);
            return !dead || (dead.flags.includes("fail") && dead.slots.length === 0);
          });
          if (!done) return false;
          const states = await Promise.all(live().map((n) => clusterInfo(n.client)));
          if (!states.every((s) => s.includes("cluster_state:ok"))) return false;
          const before = new Set(initialMasters);
          const now = await handle.masterPorts();
          promoted = now.find((p) => !before.has(p)) ?? 0;
          return now.length === masters && !now.includes(killedPort) && promoted !== 0;
        },
        { timeout, interval: 100, message: `a replica to take over the slots of the killed master ${killedPort}` },
      );
      return promoted;
    },
    async close() {
      handle.client.disconnect();
      for (const node of nodes) {
        node.client.disconnect();
        const proc = node.proc;
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          closing.push(new Promise((resolve) => proc.once("exit", () => resolve())));
          proc.kill("SIGKILL");
        }
      }
      await Promise.all(closing);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    for (const node of nodes) {
      spawnNode(node);
    }
    await Promise.all(
      nodes.map(async (node) => {
        await node.client.connect().catch(() => {});
        await waitFor(async () => (await node.client.ping()) === "PONG", { timeout: 20_000, message: `node ${node.port} to answer` });
        // ACLs are each node's own: the user is made on every one.
        if (user) await node.client.call("ACL", "SETUSER", user.name, "on", `>${user.password}`, ...user.rules);
      }),
    );
    await within(
      run("redis-cli", [
        "-a",
        CLUSTER_PASSWORD,
        "--no-auth-warning",
        ...(tls ? ["--tls", "--cacert", tls.ca] : []),
        "--cluster",
        "create",
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        "--cluster-replicas",
        String(nodes.length / masters - 1),
        "--cluster-yes",
      ]),
      60_000,
      "redis-cli --cluster create",
    );
    await waitFor(
      async () => {
        const states = await Promise.all(nodes.map((n) => clusterInfo(n.client)));
        if (!states.every((s) => s.includes("cluster_state:ok"))) return false;
        // Every replica has its master's data, so a failover can happen at once.
        const replication = await Promise.all(nodes.map((n) => info(n.client, "replication")));
        const replicas = replication.filter((r) => r.includes("role:slave"));
        return replicas.length === nodes.length - masters && replicas.every((r) => r.includes("master_link_status:up"));
      },
      { timeout: 30_000, interval: 100, message: "cluster_state:ok on every node, and every replica in sync" },
    );
    initialMasters = await handle.masterPorts();
    await handle.client.connect();
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/** A cluster of the test file's own, created before its first test and removed after its last. */
export function useCluster(test: TestFn, options: ClusterOptions = {}): TestCluster {
  return fileScoped(
    test,
    "the file's Redis Cluster",
    () => startCluster(options),
    (cluster) => cluster.close(),
  );
}

/** Every key under a prefix, from every master (tests only). */
export async function clusterKeysUnder(cluster: TestCluster, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of cluster.nodes) {
    if (!node.proc || node.proc.exitCode !== null || node.proc.signalCode !== null) continue;
    if (!(await info(node.client, "replication")).includes("role:master")) continue;
    let cursor = "0";
    do {
      const [next, batch] = await node.client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
  }
  return keys;
}

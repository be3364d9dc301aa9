// Redis with Sentinel for tests: one master, one replica (--replicaof) and
// three sentinels, all real redis-server processes on free loopback ports,
// each in a folder of its own (a sentinel rewrites its config file, so it is
// a writable copy; Debian ships no redis-sentinel binary: the sentinels run
// as `redis-server <file> --sentinel`). Removed afterwards.
//   startSentinel()     call close() yourself
//   useSentinel(test)   shared by a test file; removed after its last test
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestFn } from "ava";
import { Redis } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import { freePort } from "./ports.ts";
import { redisTlsArgs, type TestCertificates } from "./tls.ts";
import { fileScoped } from "./scope.ts";
import { waitFor } from "./wait.ts";

export const MASTER_NAME = "sidejob-test";
/** How soon the sentinels call an unanswering master down, and the longest a failover may take. */
const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 3000;

interface Proc {
  port: number;
  dir: string;
  proc: ChildProcess | null;
  client: Redis;
}

export interface TestSentinel {
  /** The settings that point sidejob at it (with TLS and a user, those too). */
  env: Record<string, string> & { REDIS_SENTINELS: string; REDIS_SENTINEL_NAME: string; REDIS_PASSWORD: string };
  /** The two data nodes (master and replica at the start) and the three sentinels. */
  servers: Proc[];
  sentinels: Proc[];
  /** The port of the master, as the sentinels report it now. */
  masterPort(): Promise<number>;
  /** A plain connection to the master of now. */
  master(): Promise<Redis>;
  /** SIGKILL of the master; resolves once it has exited. Returns its port. */
  killMaster(): Promise<number>;
  /** Waits until every sentinel reports another master than `oldPort`, and that one says role:master. */
  waitForNewMaster(oldPort: number, timeout?: number): Promise<number>;
  close(): Promise<void>;
}

/** The password the master and the replica ask for (the sentinels ask none). */
export const MASTER_PASSWORD = "sentinel-master-password-0123";

function client(port: number, password: string | undefined, tls: ConnectionOptions | undefined): Redis {
  const redis = new Redis({ port, host: "127.0.0.1", password, tls, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  redis.on("error", () => {});
  return redis;
}

const alive = (p: Proc) => p.proc !== null && p.proc.exitCode === null && p.proc.signalCode === null;

export interface SentinelOptions {
  /** TLS only, on the data nodes and the sentinels, replication included; the env gives sidejob REDIS_TLS and the CA. */
  tls?: TestCertificates;
  /** An ACL user made on the master and the replica; the env gives sidejob this user rather than the default one. */
  user?: { name: string; password: string; rules: string[] };
}

export async function startSentinel({ tls, user }: SentinelOptions = {}): Promise<TestSentinel> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-sentinel-"));
  const tlsOptions = tls && { ca: [fs.readFileSync(tls.ca)], servername: "localhost" };
  const make = async (name: string, password?: string): Promise<Proc> => {
    const port = await freePort();
    const dir = path.join(root, `${name}-${port}`);
    fs.mkdirSync(dir);
    return { port, dir, proc: null, client: client(port, password, tlsOptions) };
  };
  const servers = [await make("master", MASTER_PASSWORD), await make("replica", MASTER_PASSWORD)];
  const sentinels = [await make("sentinel"), await make("sentinel"), await make("sentinel")];
  const [master, replica] = servers as [Proc, Proc];

  const dataArgs = (p: Proc) => [
    "--requirepass",
    MASTER_PASSWORD,
    "--masterauth",
    MASTER_PASSWORD,
    ...(tls ? [...redisTlsArgs(tls, p.port), "--tls-replication", "yes"] : ["--port", String(p.port)]),
    "--bind",
    "127.0.0.1",
    "--dir",
    p.dir,
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
    "--logfile",
    path.join(p.dir, "redis.log"),
  ];

  const sentinelPort = async (s: Proc): Promise<number> => {
    const [host, port] = (await s.client.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME)) as [string, string];
    if (host !== "127.0.0.1") throw new Error(`unexpected master host ${host}`);
    return Number(port);
  };

  const handle: TestSentinel = {
    env: {
      REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(","),
      REDIS_SENTINEL_NAME: MASTER_NAME,
      REDIS_PASSWORD: user?.password ?? MASTER_PASSWORD,
      ...(user ? { REDIS_USERNAME: user.name } : {}),
      ...(tls ? { REDIS_TLS: "on", REDIS_TLS_CA: tls.ca } : {}),
    },
    servers,
    sentinels,
    async masterPort() {
      for (const s of sentinels.filter(alive)) {
        try {
          return await sentinelPort(s);
        } catch {
          // ask the next one
        }
      }
      throw new Error("no sentinel answers");
    },
    async master() {
      const port = await handle.masterPort();
      return servers.find((s) => s.port === port)!.client;
    },
    async killMaster() {
      const port = await handle.masterPort();
      const node = servers.find((s) => s.port === port)!;
      const proc = node.proc!;
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill("SIGKILL");
      await exited;
      return port;
    },
    async waitForNewMaster(oldPort, timeout = 30_000) {
      let port = 0;
      await waitFor(
        async () => {
          const ports = await Promise.all(sentinels.filter(alive).map(sentinelPort));
          if (!ports.every((p) => p !== oldPort && p === ports[0])) return false;
          const node = servers.find((s) => s.port === ports[0]);
          if (!node || !alive(node)) return false;
          port = ports[0]!;
          return (await node.client.info("replication")).includes("role:master");
        },
        { timeout, interval: 100, message: `the sentinels to promote another master than ${oldPort}` },
      );
      return port;
    },
    async close() {
      const exits: Promise<unknown>[] = [];
      for (const p of [...sentinels, ...servers]) {
        p.client.disconnect();
        if (alive(p)) {
          exits.push(new Promise((resolve) => p.proc!.once("exit", resolve)));
          p.proc!.kill("SIGKILL");
        }
      }
      await Promise.all(exits);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    master.proc = spawn("redis-server", dataArgs(master), { stdio: "ignore" });
    replica.proc = spawn("redis-server", [...dataArgs(replica), "--replicaof", "127.0.0.1", String(master.port)], { stdio: "ignore" });
    for (const s of sentinels) {
      const file = path.join(s.dir, "sentinel.conf");
      fs.writeFileSync(
        file,
        [
          ...(tls
            ? [
                "port 0",
                `tls-port ${s.port}`,
                `tls-cert-file ${tls.cert}`,
                `tls-key-file ${tls.key}`,
                `tls-ca-cert-file ${tls.ca}`,
                "tls-auth-clients no",
                "tls-replication yes",
              ]
            : [`port ${s.port}`]),
          "bind 127.0.0.1",
          `dir ${s.dir}`,
          `logfile ${path.join(s.dir, "sentinel.log")}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
          `sentinel auth-pass ${MASTER_NAME} ${MASTER_PASSWORD}`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          "",
        ].join("\n"),
        { mode: 0o600 },
      );
      s.proc = spawn("redis-server", [file, "--sentinel"], { stdio: "ignore" });
    }
    for (const p of [...servers, ...sentinels]) {
      await p.client.connect().catch(() => {});
      await waitFor(async () => (await p.client.ping()) === "PONG", { timeout: 20_000, message: `redis-server on ${p.port} to answer` });
    }
    // ACLs are each server's own: the user is made on both, so it holds after a failover.
    if (user) for (const p of servers) await p.client.call("ACL", "SETUSER", user.name, "on", `>${user.password}`, ...user.rules);
    await waitFor(
      async () => {
        if (!(await replica.client.info("replication")).includes("master_link_status:up")) return false;
        // Each sentinel knows the replica and the two other sentinels, so that a failover can happen.
        for (const s of sentinels) {
          const reply = (await s.client.call("SENTINEL", "master", MASTER_NAME)) as string[] | Record<string, string>;
          const get = (name: string) => Number(Array.isArray(reply) ? reply[reply.indexOf(name) + 1] : reply[name]);
          if (get("num-slaves") < 1 || get("num-other-sentinels") < 2) return false;
        }
        return true;
      },
      { timeout: 30_000, interval: 100, message: "the replica in sync and the sentinels aware of it and of each other" },
    );
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/** Sentinel-managed Redis of the test file's own, started before its first test and removed after its last. */
export function useSentinel(test: TestFn, options: SentinelOptions = {}): TestSentinel {
  return fileScoped(
    test,
    "the file's Redis with Sentinel",
    () => startSentinel(options),
    (s) => s.close(),
  );
}

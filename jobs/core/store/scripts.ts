// How the Lua scripts reach Redis (lua/index.ts): each is called by its SHA1
// (EVALSHA), whose 40 characters are all a call sends of it; only a Redis
// that does not have the script (restarted, failed over to a replica, SCRIPT
// FLUSH: each Cluster shard has its own) answers NOSCRIPT, and that call is
// sent once more with the text (EVAL), which loads it there for every
// process. A job process, a new connection each time, so sends no script's
// text at all (ioredis' own defineCommand sent each one in full the first
// time a connection ran it: most of a job's bytes).
//
// The servers load every script at start and after each reconnect
// (keepLoaded: SCRIPT LOAD, on each master of a Cluster), so that not even
// the first job after a Redis restart meets NOSCRIPT. A Redis that refuses
// SCRIPT LOAD (an ACL without it) costs nothing but that: EVAL loads each
// script on its first use.
import type { Cluster, Redis as OneRedis } from "ioredis";
import { LUA_COMMANDS, type LuaCommand } from "../lua/index.ts";

/** One Redis (or a Sentinel's master), or a Redis Cluster (as store/core.ts names it). */
type Redis = OneRedis | Cluster;
type Send = (script: string, numberOfKeys: number, ...args: (string | number | Buffer)[]) => Promise<unknown>;

/** Redis does not have the script: it is sent again with its text. */
function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("NOSCRIPT");
}

/** One script as a command of a connection: EVALSHA, then EVAL once if Redis answers NOSCRIPT; buffers: replies as Buffers. */
function scriptCommand(redis: Redis, { sha, lua, numberOfKeys }: LuaCommand, buffers: boolean) {
  // EVALSHA's and EVAL's own methods (call() loses its command name to auto-pipelining, in ioredis 6); their
  // Buffer forms are ioredis' too, untyped.
  const r = redis as unknown as Record<"evalsha" | "eval" | "evalshaBuffer" | "evalBuffer", Send>;
  const send = (command: "evalsha" | "eval", script: string, args: (string | number | Buffer)[]) => {
    if (command === "evalsha") return buffers ? r.evalshaBuffer(script, numberOfKeys, ...args) : r.evalsha(script, numberOfKeys, ...args);
    return buffers ? r.evalBuffer(script, numberOfKeys, ...args) : r.eval(script, numberOfKeys, ...args);
  };
  return (...args: (string | number | Buffer)[]): Promise<unknown> =>
    send("evalsha", sha, args).catch((err: unknown) => {
      if (!isNoScript(err)) throw err;
      return send("eval", lua, args);
    });
}

/**
 * The scripts in jobs/core/lua as commands of this connection (once, if
 * several stores share it), each also as <name>Buffer, whose replies are
 * Buffers (as ioredis' own defineCommand does); their types: lua/commands.ts.
 */
export function defineScripts(redis: Redis): void {
  for (const command of LUA_COMMANDS) {
    if (command.name in redis) continue;
    Object.defineProperty(redis, command.name, { value: scriptCommand(redis, command, false), configurable: true });
    Object.defineProperty(redis, `${command.name}Buffer`, { value: scriptCommand(redis, command, true), configurable: true });
  }
}

/** Loads every script into one Redis (SCRIPT LOAD, in one write); resolves with how many it loaded. */
async function loadInto(node: OneRedis): Promise<number> {
  const pipeline = node.pipeline();
  for (const { lua } of LUA_COMMANDS) pipeline.script("LOAD", lua);
  const replies = (await pipeline.exec()) ?? [];
  return replies.filter(([err]) => !err).length;
}

/** Loads every script into Redis: into each master of a Cluster. */
export async function loadScripts(redis: Redis): Promise<number> {
  if (!redis.isCluster) return loadInto(redis as OneRedis);
  const loaded = await Promise.all((redis as Cluster).nodes("master").map((node) => loadInto(node).catch(() => 0)));
  return loaded.reduce((sum, n) => sum + n, 0);
}

/**
 * Loads the scripts now (resolved once done) and whenever the connection is
 * ready again (a reconnect may reach a restarted Redis, or a new master
 * after a failover), and into each node a Cluster client adds. Errors are
 * ignored: a script Redis lacks is loaded by its next call (NOSCRIPT).
 */
export function keepScriptsLoaded(redis: Redis): Promise<void> {
  const load = () =>
    loadScripts(redis).then(
      () => {},
      () => {},
    );
  if (redis.isCluster) {
    (redis as Cluster).on("+node", (node: OneRedis) => {
      if (node.status === "ready") void loadInto(node).catch(() => {});
      else node.once("ready", () => void loadInto(node).catch(() => {}));
    });
  } else {
    redis.on("ready", () => void load());
  }
  return redis.status === "ready" ? load() : Promise.resolve();
}

// The start's check of Redis's maxmemory-policy (REDIS_EVICTION_CHECK): an
// evicting policy stops the server's start with a message naming the policy
// and the setting (the real server: what main.ts prints); with warn it is a
// warning and the instance starts; a Redis that refuses CONFIG GET is not
// checked, and one line says so.
import test, { type ExecutionContext } from "ava";
import { startRedis, type TestRedis } from "../support/redis.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { startApp } from "../support/app.ts";
import { LEVELS, memoryLogger } from "../support/logs.ts";
import { within } from "../support/wait.ts";

async function evictingRedis(t: ExecutionContext, options: { tcp?: boolean } = {}): Promise<TestRedis> {
  const redis = await startRedis(options);
  t.teardown(() => redis.close());
  await redis.client.config("SET", "maxmemory-policy", "allkeys-lru");
  return redis;
}

test("an evicting maxmemory-policy stops the start with a message naming the policy and REDIS_EVICTION_CHECK", async (t) => {
  const redis = await evictingRedis(t);
  const server = await startServer(t, serverEnv(redis, "evict-refuse"), { waitForListening: false });
  const { code } = await within(server.exited, 30_000, "the server to refuse");
  t.is(code, 1);
  const out = server.output();
  t.regex(out, /maxmemory-policy allkeys-lru/);
  t.regex(out, /maxmemory-policy noeviction/);
  t.regex(out, /REDIS_EVICTION_CHECK=warn/);
  t.notRegex(out, /listening on/);
  t.notRegex(out, /at \w+ \(/, "no stack trace");
});

test("with REDIS_EVICTION_CHECK=warn an evicting policy is a warning and the instance starts", async (t) => {
  const redis = await evictingRedis(t);
  const { logger, records } = memoryLogger();
  const a = await startApp(t, { redis, name: "evict-warn", env: { REDIS_EVICTION_CHECK: "warn" }, logger });
  const res = await a.get("/healthz");
  t.is(res.status, 200);
  await res.arrayBuffer();
  const warning = records.find((r) => r.msg.includes("allkeys-lru"));
  t.truthy(warning, JSON.stringify(records));
  t.is(warning!.level, LEVELS.warn);
  t.regex(warning!.msg, /starting anyway \(REDIS_EVICTION_CHECK=warn\)/);
});

test("noeviction, Redis's default, starts without a word about the policy", async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const { logger, records } = memoryLogger();
  await startApp(t, { redis, name: "evict-none", logger });
  t.false(records.some((r) => r.msg.includes("maxmemory-policy")));
});

test("a Redis user that may not run CONFIG is not checked: one line says so and the instance starts", async (t) => {
  const redis = await evictingRedis(t, { tcp: true });
  await redis.client.acl("SETUSER", "web", "on", ">a-long-password", "~*", "&*", "+@all", "-config");
  const { logger, records } = memoryLogger();
  const a = await startApp(t, { redis: { url: `redis://web:a-long-password@127.0.0.1:${redis.port}` }, name: "evict-acl", logger });
  const res = await a.get("/healthz");
  t.is(res.status, 200);
  await res.arrayBuffer();
  const line = records.find((r) => r.msg.includes("maxmemory-policy"));
  t.regex(line?.msg ?? "", /cannot read Redis's maxmemory-policy \(NOPERM[^)]*\); not checked/);
  t.false(JSON.stringify(records).includes("a-long-password"), "the password is not logged");
});

test("a REDIS_EVICTION_CHECK other than refuse or warn is refused, naming the setting", async (t) => {
  const server = await startServer(t, { REDIS_EVICTION_CHECK: "ignore" }, { waitForListening: false });
  const { code } = await within(server.exited, 30_000, "the server to refuse");
  t.is(code, 1);
  t.regex(server.output(), /REDIS_EVICTION_CHECK.*expected refuse or warn/);
});

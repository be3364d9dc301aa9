// Entry point: settings -> logger -> Redis -> the instance (instance.ts) ->
// listen; graceful stop on SIGTERM/SIGINT. Job processes are not stopped with
// the server: they run on and record their own end, and any instance shows them.
import { ConfigError, loadConfig, mayStartLocalRedis, redisTopologySetting } from "./config.ts";
import { describeTarget, redact, RedisRefusedError } from "../jobs/core/redis.ts";
import { redisTarget } from "../jobs/core/settings.ts";
import { createLogger } from "./log.ts";
import { chooseLocalRedis } from "./local-redis.ts";
import { createInstance, InstanceError, type Instance } from "./instance.ts";
import { newInstanceId } from "./supervisor/index.ts";

/** How long requests in flight get to finish after SIGTERM. */
const SHUTDOWN_DEADLINE_MS = 4000;

function fail(message: string): never {
  process.stderr.write(`sidejob: ${message}\n`);
  process.exit(1);
}

let config;
try {
  config = loadConfig();
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}

// The one logger; lines before it exists (a bad setting) go to stderr as plain text.
// The instance's id is made first, so that every line carries it, even those
// written before the instance exists (the choice of Redis).
const rootLogger = createLogger(config);
const instanceId = newInstanceId();
const startLog = rootLogger.child({ instance: instanceId });

// A Redis Cluster or Sentinel takes precedence over REDIS_URL, and never
// starts a local redis-server.
const topology = redisTopologySetting(config);
if (topology && config.redisUrlGiven) startLog.info(`sidejob: REDIS_URL is ignored: ${topology} is set`);
for (const { type, problems } of config.skippedTypes) {
  startLog.warn(`sidejob: this instance does not run ${type} jobs (JOB_PROGRAM_CHECK=skip-type): ${problems.join("; ")}`);
}

if (mayStartLocalRedis(config)) {
  try {
    const local = await chooseLocalRedis(config.redisUrl, config.localRedisDir);
    if (local.note) startLog.info(`sidejob: ${local.note}`);
    config = { ...config, redisUrl: local.url };
  } catch (err) {
    fail((err as Error).message);
  }
}

let instance: Instance;
try {
  instance = await createInstance(config, { logger: rootLogger, instanceId });
} catch (err) {
  if (!(err instanceof InstanceError && err.step === "redis") || err.cause instanceof RedisRefusedError) fail((err as Error).message);
  fail(
    `${err.message}. ${
      topology
        ? `Check that the ${topology === "REDIS_SENTINELS" ? "sentinels answer" : "cluster's nodes answer"} and ${topology} lists them.`
        : "Start redis-server, or set REDIS_URL."
    }`,
  );
}
const { logger } = instance.telemetry;

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info(`sidejob: ${signal}, stopping (job processes keep running)`);
  const deadline = setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  await instance.close();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));

try {
  const url = await instance.listen();
  const target = redisTarget(config);
  const redisDescription = target.kind === "url" ? `Redis ${redact(target.url)}` : describeTarget(target);
  // People and tests read the address from this line's msg ("sidejob listening on http://..."):
  // written whatever LOG_LEVEL says.
  logger.child({}, { level: "info" }).info({ url }, `sidejob listening on ${url} (${redisDescription}, prefix ${config.redisPrefix})`);
} catch (err) {
  fail(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
}

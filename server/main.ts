// Entry point: settings -> logger -> Redis -> app -> listen; graceful stop on SIGTERM/SIGINT.
// Job processes are not stopped with the server: they run on and record their
// own end, and any instance shows them.
import { ConfigError, loadConfig, mayStartLocalRedis, redisTopologySetting } from "./config.ts";
import { connectRedis, describeTarget, redact, waitUntilReady, WEB_COMMAND_TIMEOUT_MS } from "../jobs/core/redis.ts";
import { redisTarget } from "../jobs/core/settings.ts";
import { JobStore } from "../jobs/core/store.ts";
import { createRenderer } from "./render.ts";
import { newInstanceId, Supervisor } from "./supervisor/index.ts";
import { createLogger, warnLine } from "./log.ts";
import { createTelemetry } from "./telemetry.ts";
import { createApp } from "./app.ts";
import { createRequestListener } from "./listener.ts";
import { createHttpServer, HTTP_LIMITS } from "./http-server.ts";
import { jobScript } from "./paths.ts";
import { chooseLocalRedis } from "./local-redis.ts";
import { openJobPages, type JobPages } from "./job-cache.ts";

/** How long to wait for Redis at start before giving up. */
const STARTUP_REDIS_DEADLINE_MS = 3000;
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
const rootLogger = createLogger(config);

// A Redis Cluster or Sentinel takes precedence over REDIS_URL, and never
// starts a local redis-server.
const topology = redisTopologySetting(config);
if (topology && config.redisUrlGiven) rootLogger.info(`sidejob: REDIS_URL is ignored: ${topology} is set`);

if (mayStartLocalRedis(config)) {
  try {
    const local = await chooseLocalRedis(config.redisUrl, config.localRedisDir);
    if (local.note) rootLogger.info(`sidejob: ${local.note}`);
    config = { ...config, redisUrl: local.url };
  } catch (err) {
    fail((err as Error).message);
  }
}

// Two connections: pages on one, the supervisor (claims, sweeps, exits) on
// its own, so a flood of page reads never delays the jobs' housekeeping.
const target = redisTarget(config);
const redis = connectRedis(target, "web");
const supervisorRedis = connectRedis(target, "supervisor");
try {
  await Promise.all([redis, supervisorRedis].map((r) => waitUntilReady(r, target, STARTUP_REDIS_DEADLINE_MS)));
} catch (err) {
  fail(
    `${(err as Error).message}. ${
      topology
        ? `Check that the ${topology === "REDIS_SENTINELS" ? "sentinels answer" : "cluster's nodes answer"} and ${topology} lists them.`
        : "Start redis-server, or set REDIS_URL."
    }`,
  );
}

const storeOptions = {
  prefix: config.redisPrefix,
  partitions: config.redisPartitions,
  ttlSucceededS: config.jobTtlSucceededS,
  ttlFailedS: config.jobTtlFailedS,
};
const store = new JobStore(redis, { ...storeOptions, maxInFlight: HTTP_LIMITS.REDIS_MAX_IN_FLIGHT, deadlineMs: WEB_COMMAND_TIMEOUT_MS });
const supervisorStore = new JobStore(supervisorRedis, storeOptions);
// The status cache: two more connections, kept correct by Redis (job-cache.ts).
let jobPages: JobPages;
try {
  jobPages = await openJobPages(config, target, store, { readyDeadlineMs: STARTUP_REDIS_DEADLINE_MS, log: warnLine(rootLogger) });
} catch (err) {
  fail((err as Error).message);
}
const { pages } = jobPages;
const instanceId = newInstanceId();
const telemetry = createTelemetry({ instanceId, logger: rootLogger, store, stores: [store, supervisorStore, ...jobPages.stores] });
const { logger } = telemetry;
const supervisor = new Supervisor({ store: supervisorStore, config, scriptFor: jobScript, instanceId, logger, events: telemetry.events });
const renderer = createRenderer({ cache: config.nodeEnv === "production" });
const app = createApp({ config, store, pages, supervisor, renderer, telemetry });

const server = createHttpServer(createRequestListener({ app, pages, renderer, config, polls: telemetry.polls }), {
  allowedHosts: config.allowedHosts,
  logger,
});
const listenFailed = (err: Error) => fail(`cannot listen on ${config.host}:${config.port}: ${err.message}`);
server.once("error", listenFailed);
server.listen(config.port, config.host, () => {
  server.off("error", listenFailed);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  const redisDescription = target.kind === "url" ? `Redis ${redact(target.url)}` : describeTarget(target);
  // People and tests read the address from this line's msg ("sidejob listening on http://..."):
  // written whatever LOG_LEVEL says.
  logger.child({}, { level: "info" }).info({ url }, `sidejob listening on ${url} (${redisDescription}, prefix ${config.redisPrefix})`);
});
supervisor.start();

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info(`sidejob: ${signal}, stopping (job processes keep running)`);
  const deadline = setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await supervisor.close();
  await closed;
  jobPages.close();
  telemetry.close();
  redis.disconnect();
  supervisorRedis.disconnect();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));

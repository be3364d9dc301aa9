// The log: a failure that repeats is written when it starts, every 30 s while
// it lasts and when it ends; what clients do is counted, never traced.
import test from "ava";
import { ClientErrors, clientErrorCode, RepeatedWarning } from "../../server/log.ts";
import { useApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { LEVELS, memoryLogger } from "../support/logs.ts";
import { PollTally } from "../../server/request-log.ts";

test("a repeated failure is written once, then at most every 30 s, then once when it recovers", (t) => {
  const { logger, records, messages } = memoryLogger();
  let now = 0;
  const warning = new RepeatedWarning("Redis unreachable", logger, 30_000, () => now);
  for (; now <= 65_000; now += 500) warning.failed(new Error("connect ECONNREFUSED"));
  warning.succeeded();
  warning.succeeded();
  t.deepEqual(
    records.map((r) => [r.level, r.warning, r.failingS]),
    [
      [LEVELS.warn, "Redis unreachable", 0],
      [LEVELS.warn, "Redis unreachable", 30],
      [LEVELS.warn, "Redis unreachable", 60],
      [LEVELS.info, "Redis unreachable", 66],
    ],
  );
  t.is(records[3]!.recovered, true);
  t.is(records[2]!.failures, 121);
  t.deepEqual(messages(), [
    "Redis unreachable: connect ECONNREFUSED",
    "Redis unreachable: still failing after 30 s (connect ECONNREFUSED)",
    "Redis unreachable: still failing after 60 s (connect ECONNREFUSED)",
    "Redis unreachable: recovered after 66 s",
  ]);
});

test("client errors are counted by code and written as one line without a stack", (t) => {
  const { logger, records, messages } = memoryLogger();
  const lines = messages;
  const errors = new ClientErrors(logger, 60_000);
  for (const code of ["ECONNRESET", "ECONNRESET", "HPE_INVALID_METHOD", "ERR_HTTP_REQUEST_TIMEOUT"]) errors.count(code);
  errors.flush();
  t.is(lines().length, 1);
  t.deepEqual(records[0]!.clientErrors, { ECONNRESET: 2, HPE_INVALID_METHOD: 1, ERR_HTTP_REQUEST_TIMEOUT: 1 });
  t.regex(lines()[0]!, /^client errors in the last \d+ s: 2 ECONNRESET, 1 HPE_INVALID_METHOD, 1 ERR_HTTP_REQUEST_TIMEOUT$/);
  errors.flush();
  t.is(lines().length, 1, "nothing more to say");
});

test("status polls are written as one count per window, and nothing for a window without any", (t) => {
  const { logger, records } = memoryLogger();
  let now = 0;
  const polls = new PollTally(logger, 60_000, () => now);
  for (let i = 0; i < 250; i++) polls.served++;
  now = 60_000;
  polls.flush();
  now = 120_000;
  polls.flush();
  polls.served++;
  now = 150_000;
  polls.close();
  t.deepEqual(
    records.map((r) => [r.level, r.polls, r.windowS, r.msg]),
    [
      [LEVELS.info, 250, 60, "250 status polls served in the last 60 s"],
      [LEVELS.info, 1, 30, "1 status poll served in the last 30 s"],
    ],
  );
});

const clientCaused = test.macro({
  exec(t, err: unknown, code: string | null) {
    t.is(clientErrorCode(err), code);
  },
  title: (what = "", _err: unknown, code: string | null) => `${what} ${code ? `is a client error (${code})` : "is not a client error"}`,
});

const withCode = (code: string) => Object.assign(new Error("x"), { code });
test("a reset connection", clientCaused, withCode("ECONNRESET"), "ECONNRESET");
test("a stream closed early", clientCaused, withCode("ERR_STREAM_PREMATURE_CLOSE"), "ERR_STREAM_PREMATURE_CLOSE");
test("a request timeout", clientCaused, withCode("ERR_HTTP_REQUEST_TIMEOUT"), "ERR_HTTP_REQUEST_TIMEOUT");
test("a parse error", clientCaused, withCode("HPE_INVALID_METHOD"), "HPE_INVALID_METHOD");
test("a request aborted mid-body", clientCaused, new Error("aborted"), "aborted");
test("a TypeError", clientCaused, new TypeError("Cannot convert object to primitive value"), null);
test("an ENOENT", clientCaused, withCode("ENOENT"), null);

const redis = useRedis(test);
const { logger, messages } = memoryLogger();
const app = useApp(test, { redis, name: "outage", logger });

test.serial("a Redis outage is written once by the supervisor, not at every sweep, and its end once", async (t) => {
  await redis.stop();
  t.teardown(() => redis.start());
  await waitFor(() => app.supervisor.redisFailures >= 6, { message: "six failed sweeps" });
  const outage = messages().filter((l) => /Redis unreachable/.test(l));
  t.is(outage.length, 1, messages().join("\n"));
  t.notRegex(messages().join("\n"), /\n\s+at /, "no stack trace");
  await redis.start();
  await waitFor(() => messages().some((l) => /Redis unreachable.*recovered after \d+ s/.test(l)), {
    message: "the recovery to be written",
  });
  t.is(messages().filter((l) => /Redis unreachable/.test(l)).length, 2);
});

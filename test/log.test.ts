// The log: a failure that repeats is written when it starts, every 30 s while
// it lasts and when it ends; what clients do is counted, never traced.
import test from "ava";
import { ClientErrors, clientErrorCode, RepeatedWarning } from "../server/log.ts";
import { useApp } from "./support/app.ts";
import { useRedis } from "./support/redis.ts";
import { waitFor } from "./support/wait.ts";

test("a repeated failure is written once, then at most every 30 s, then once when it recovers", (t) => {
  const lines: string[] = [];
  let now = 0;
  const warning = new RepeatedWarning(
    "Redis unreachable",
    (line) => lines.push(line),
    30_000,
    () => now,
  );
  for (; now <= 65_000; now += 500) warning.failed(new Error("connect ECONNREFUSED"));
  warning.succeeded();
  warning.succeeded();
  t.deepEqual(lines, [
    "Redis unreachable: connect ECONNREFUSED",
    "Redis unreachable: still failing after 30 s (connect ECONNREFUSED)",
    "Redis unreachable: still failing after 60 s (connect ECONNREFUSED)",
    "Redis unreachable: recovered after 66 s",
  ]);
});

test("client errors are counted by code and written as one line without a stack", (t) => {
  const lines: string[] = [];
  const errors = new ClientErrors((line) => lines.push(line), 60_000);
  for (const code of ["ECONNRESET", "ECONNRESET", "HPE_INVALID_METHOD", "ERR_HTTP_REQUEST_TIMEOUT"]) errors.count(code);
  errors.flush();
  t.is(lines.length, 1);
  t.regex(lines[0]!, /^client errors in the last \d+ s: 2 ECONNRESET, 1 HPE_INVALID_METHOD, 1 ERR_HTTP_REQUEST_TIMEOUT$/);
  errors.flush();
  t.is(lines.length, 1, "nothing more to say");
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
const lines: string[] = [];
const app = useApp(test, { redis, name: "outage", log: (line) => lines.push(line) });

test.serial("a Redis outage is written once by the supervisor, not at every sweep, and its end once", async (t) => {
  await redis.stop();
  t.teardown(() => redis.start());
  await waitFor(() => app.supervisor.redisFailures >= 6, { message: "six failed sweeps" });
  const outage = lines.filter((l) => /Redis unreachable/.test(l));
  t.is(outage.length, 1, lines.join("\n"));
  t.notRegex(lines.join("\n"), /\n\s+at /, "no stack trace");
  await redis.start();
  await waitFor(() => lines.some((l) => /Redis unreachable.*recovered after \d+ s/.test(l)), { message: "the recovery to be written" });
  t.is(lines.filter((l) => /Redis unreachable/.test(l)).length, 2);
});

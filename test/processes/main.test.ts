// The entry point's own refusals: no Redis, bad settings.
import test from "ava";
import { freePort } from "../support/ports.ts";
import { startServer } from "../support/server.ts";
import { within } from "../support/wait.ts";

test("the server gives up on an unreachable Redis and exits non-zero, naming REDIS_URL and without a stack trace", async (t) => {
  const port = await freePort(); // nothing listens there
  const server = await startServer(t, { REDIS_URL: `redis://127.0.0.1:${port}` }, { waitForListening: false });
  // main.ts waits 3 s for Redis; a server that kept waiting would miss this deadline.
  const { code } = await within(server.exited, 30_000, "the server to give up");
  t.not(code, 0);
  t.regex(server.output(), new RegExp(`REDIS_URL=redis://127.0.0.1:${port}`));
  t.notRegex(server.output(), /at \w+ \(/, "no stack trace");
});

test("the server refuses to start with bad settings and names each of them", async (t) => {
  const server = await startServer(t, { PORT: "70000", COUNT_STEP_DELAY_MS: "-1", JOB_TTL_FAILED_S: "soon" }, { waitForListening: false });
  const { code } = await within(server.exited, 30_000, "the server to refuse");
  t.is(code, 1);
  for (const name of ["PORT", "COUNT_STEP_DELAY_MS", "JOB_TTL_FAILED_S"]) t.regex(server.output(), new RegExp(name));
});

test("the server refuses to start with an admin password but no SESSION_SECRET, and says why", async (t) => {
  const server = await startServer(t, { ADMIN_PASSWORD: "correct horse battery" }, { waitForListening: false });
  const { code } = await within(server.exited, 30_000, "the server to refuse");
  t.is(code, 1);
  t.regex(server.output(), /SESSION_SECRET: required when ADMIN_PASSWORD is set/);
  t.notRegex(server.output(), /correct horse/, "the password is not repeated");
});

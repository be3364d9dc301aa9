import test from "ava";
import { startServer } from "./helpers/server.ts";
import { freePort } from "./helpers/redis.ts";

test("the server exits non-zero within a few seconds when Redis is unreachable, naming REDIS_URL", async (t) => {
  const port = await freePort(); // nothing listens there
  const started = Date.now();
  const server = await startServer({ REDIS_URL: `redis://127.0.0.1:${port}` }, { waitForListening: false });
  const { code } = await server.exited;
  t.not(code, 0);
  t.true(Date.now() - started < 6000, `exited after ${Date.now() - started} ms`);
  t.regex(server.output(), new RegExp(`REDIS_URL=redis://127.0.0.1:${port}`));
  t.notRegex(server.output(), /at \w+ \(/, "no stack trace");
});

test("the server refuses to start with bad settings and names each of them", async (t) => {
  const server = await startServer({ PORT: "70000", COUNT_STEP_DELAY_MS: "-1", JOB_TTL_FAILED_S: "soon" }, { waitForListening: false });
  const { code } = await server.exited;
  t.is(code, 1);
  for (const name of ["PORT", "COUNT_STEP_DELAY_MS", "JOB_TTL_FAILED_S"]) t.regex(server.output(), new RegExp(name));
});

// What a stranger sees of a failed program: the page's words and the exit
// code, never what it wrote to stderr (a traceback with the paths of its
// install), on the page, the status poll, the log download or the JSON; the
// operators see all of it in /admin.
import test from "ava";
import { startApp, WITH_FIXTURE_TYPES } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const PASSWORD = "correct horse battery";

test("a failed Python program's traceback is not on its public page, poll, log download or JSON, but is in /admin", async (t) => {
  const a = await startApp(t, {
    redis,
    name: "failure-privacy",
    env: { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: "s".repeat(40) },
    ...WITH_FIXTURE_TYPES,
  });
  const id = await a.store.create({ type: "py-crash", params: {}, total: 0, queueMax: 100 });
  await a.supervisor.pump();
  await a.waitForState(id, "failed", 15_000);
  await a.supervisor.idle();
  const log = await a.store.readLog(id);
  t.true(
    log.some((line) => line.startsWith("Traceback")),
    "the traceback is in the job's log",
  );

  const secret = /Traceback|ValueError|the input has no header row|\.py/;
  const page = await (await a.get(`/jobs/${id}`)).text();
  t.notRegex(page, secret);
  t.regex(page, /Exit code: 1/);
  t.notRegex(page, new RegExp(`/jobs/${id}/log`), "no link to the log");
  t.notRegex(await (await a.get(`/jobs/${id}/status`)).text(), secret);
  const download = await a.get(`/jobs/${id}/log`);
  t.is(download.status, 404);
  t.notRegex(await download.text(), secret);
  const json = await (await a.get(`/jobs/${id}`, { Accept: "application/json" })).text();
  t.notRegex(json, secret);
  t.like(JSON.parse(json), { state: "failed", reason: "exit-code", error: null, exitCode: 1, logUrl: null });

  const login = await a.post("/admin/login", { password: PASSWORD });
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
  const admin = await (await a.get(`/admin/jobs/${id}`, { Cookie: cookie })).text();
  t.regex(admin, /Traceback/);
  t.regex(admin, /ValueError: the input has no header row/);
  const adminLog = await a.get(`/admin/jobs/${id}/log`, { Cookie: cookie });
  t.is(adminLog.status, 200);
  t.regex(await adminLog.text(), /Traceback/);
  t.is((await a.get(`/admin/jobs/${id}/log`)).status, 303, "the operators' download needs a session");
});

test("with SHOW_JOB_INTERNALS, the log is shown to everyone", async (t) => {
  const a = await startApp(t, { redis, name: "failure-internals", env: { SHOW_JOB_INTERNALS: "true" }, takesJobs: false });
  const id = await a.store.create({ type: "count", params: { start: 1, end: 2, increment: 1 }, total: 2, queueMax: 100 });
  await a.store.appendLog(id, ["a line"]);
  const res = await a.get(`/jobs/${id}/log`);
  t.is(res.status, 200);
  t.is(await res.text(), "a line\n");
});

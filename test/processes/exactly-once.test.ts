// Every job is counted exactly once, whatever fails: under faults injected at
// conditions (Redis stopped and started while jobs are submitted, claimed and
// end; a server SIGKILLed mid-claim; job processes SIGKILLed; cancels racing
// starts from the public page, the admin job page and the bulk action), per
// type, submitted = finished + queued + running in the metrics summed over
// the live instances, and the jobs list holds each job once, in the state the
// metrics counted (server/job-events.ts).
import test from "ava";
import type { Redis } from "ioredis";
import { JobStore } from "../../jobs/core/store.ts";
import { LONG_COUNT, jobJson, post, type Form } from "../support/http.ts";
import { useRedis } from "../support/redis.ts";
import { serverEnv, startServer, type ServerProcess } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const TOKEN = "metrics-token-for-the-tests-0123";
const PASSWORD = "correct horse battery";
// Kept across stop() and start(): a Redis restart, not a Redis wiped.
const redis = useRedis(test, { appendonly: true });

const SHORT: Form = { start: "1", end: "4", increment: "1" };
const MEDIUM: Form = { start: "1", end: "20", increment: "1" };
const JSON_ACCEPT = { Accept: "application/json" };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

async function scrape(server: ServerProcess): Promise<Sample[]> {
  const res = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return (await res.text()).split("\n").flatMap((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) return [];
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    return [{ name: m[1]!, labels, value: Number(m[3]) }];
  });
}

/** Per type: submitted, finished (and by state), from the counters summed over instances; queued and running from one (the cluster's). */
async function countsOf(servers: readonly ServerProcess[]) {
  const all = await Promise.all(servers.map(scrape));
  const byType: Record<string, { submitted: number; finished: number; states: Record<string, number> }> = {};
  const of = (type: string) => (byType[type] ??= { submitted: 0, finished: 0, states: {} });
  for (const samples of all) {
    for (const s of samples) {
      if (s.name === "sidejob_jobs_submitted_total") of(s.labels.type!).submitted += s.value;
      if (s.name === "sidejob_jobs_finished_total") {
        const c = of(s.labels.type!);
        c.finished += s.value;
        c.states[s.labels.state!] = (c.states[s.labels.state!] ?? 0) + s.value;
      }
    }
  }
  const gauge = (name: string) => all[0]!.find((s) => s.name === name)?.value ?? NaN;
  return { byType, queued: gauge("sidejob_queue_length"), running: gauge("sidejob_jobs_running") };
}

async function login(server: ServerProcess): Promise<string> {
  const res = await post(`${server.url}/admin/login`, { password: PASSWORD, next: "/admin" });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
}

/** Every job of the jobs list (/admin/jobs as JSON), page by page. */
async function jobsList(server: ServerProcess, cookie: string): Promise<{ id: string; type: string; state: string }[]> {
  const rows: { id: string; type: string; state: string }[] = [];
  for (let next: string | null = "/admin/jobs?limit=100"; next;) {
    const res = await fetch(server.url + next, { headers: { Cookie: cookie, ...JSON_ACCEPT } });
    if (res.status !== 200) throw new Error(`GET ${next} answered ${res.status}`);
    const page = (await res.json()) as { jobs: { id: string; type: string; state: string }[]; nextUrl: string | null };
    rows.push(...page.jobs);
    next = page.nextUrl;
  }
  return rows;
}

/** POST /count, as a form or as JSON; the job's id, or null when it was refused (503 while Redis is down). */
async function submitTo(server: ServerProcess, form: Form, json: boolean): Promise<string | null> {
  const res = json
    ? await fetch(`${server.url}/count`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...JSON_ACCEPT },
        body: JSON.stringify(form),
      })
    : await post(`${server.url}/count`, form);
  await res.arrayBuffer().catch(() => {});
  if (res.status === 303 || res.status === 202) return res.headers.get("location")!.split("/").pop()!;
  if (res.status === 503) return null;
  throw new Error(`POST /count answered ${res.status}`);
}

/**
 * A submit that must succeed: sent again while it is refused (a server still
 * finding Redis again after a fault answers 503), as a client that obeys
 * Retry-After would, at a shorter pace. A refused try may have created a job
 * all the same: the jobs list and the counts hold it, once.
 */
function submitSure(server: ServerProcess, form: Form, json: boolean): Promise<string> {
  return waitFor(() => submitTo(server, form, json), { interval: 100, message: "a submit to be accepted" });
}

/** A request sent again while it is answered 503 (as submitSure). */
function answered(send: () => Promise<Response>): Promise<Response> {
  return waitFor(
    async () => {
      const res = await send();
      if (res.status !== 503) return res;
      await res.arrayBuffer().catch(() => {});
      return null;
    },
    { interval: 100, message: "an answer other than 503" },
  );
}

/** The ids in every partition's set of ends recorded by job processes that no server has reported yet. */
async function unreported(client: Redis, prefix: string): Promise<number> {
  const keys = await client.keys(`${prefix}:*ix:unreported`);
  let n = 0;
  for (const key of keys) n += await client.zcard(key);
  return n;
}

test("under faults each job is counted submitted once and finished once, per type, in the metrics and the jobs list", async (t) => {
  const env = serverEnv(redis, "exactly-once", {
    METRICS_TOKEN: TOKEN,
    ADMIN_PASSWORD: PASSWORD,
    SESSION_SECRET: "s".repeat(40),
    JOB_CONCURRENCY_COUNT: "2",
    COUNT_STEP_DELAY_MS: "100",
    // The orphaned job is found lost within seconds.
    JOB_HEARTBEAT_MS: "1000",
  });
  const prefix = env.REDIS_PREFIX!;
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)]);
  const live = [a, b];
  const cookie = await login(a);
  const submitted: string[] = [];
  const keep = (id: string | null) => {
    if (id) submitted.push(id);
    return id;
  };

  // 1. A server SIGKILLed mid-claim. Every slot of a and b is busy with a long
  // job; a job waits (counted submitted by a); k starts and claims it, and is
  // killed as soon as the claim is in Redis: it has counted nothing, so the
  // live instances' sums stay whole. Its job runs on alone and records its own
  // end (a sweep reports it), or never starts (a sweep records it lost).
  const long: string[] = [];
  for (let i = 0; i < 4; i++) long.push(keep(await submitSure(i % 2 ? b : a, LONG_COUNT, i % 2 === 0))!);
  await waitFor(async () => (await Promise.all(long.map((id) => jobJson(a.url, id)))).every((j) => j.state === "running" && j.pid), {
    timeout: 60_000,
    message: "the long jobs to run",
  });
  const orphan = keep(await submitSure(a, SHORT, false))!;
  const k = await startServer(t, env);
  await waitFor(async () => (await redis.client.hget(`${prefix}:{jobs}:job:${orphan}`, "owner")) !== null, {
    interval: 5,
    timeout: 60_000,
    message: "the new server's claim",
  });
  k.kill("SIGKILL");
  await k.exited;

  // 2. Job processes SIGKILLed: their servers record each exit, once.
  for (const id of long) process.kill((await jobJson(a.url, id)).pid!, "SIGKILL");

  // 3. Redis stopped while jobs are submitted, claimed and end, and started again.
  // Long enough (2 s) that a poll finds one running however slow the machine is.
  const first = await Promise.all(Array.from({ length: 6 }, (_, i) => submitSure(i % 2 ? b : a, MEDIUM, i % 3 === 0)));
  first.forEach(keep);
  await waitFor(async () => (await Promise.all(first.map((id) => jobJson(a.url, id)))).some((j) => j.state === "running"), {
    timeout: 60_000,
    message: "a job running",
  });
  await redis.stop();
  const down = await Promise.all(Array.from({ length: 4 }, (_, i) => submitTo(i % 2 ? b : a, SHORT, i % 2 === 0)));
  t.true(
    down.every((id) => id === null),
    "refused while Redis is down",
  );
  await redis.start();

  // 3b. Redis frozen while submits are in flight: each is answered 503 after
  // the web's deadline; whatever of them Redis runs once it thaws is counted
  // by the first instance to see the job.
  const frozen = redis.pid!;
  process.kill(frozen, "SIGSTOP");
  let thawed = false;
  const lostAnswers = await Promise.all(Array.from({ length: 4 }, (_, i) => submitTo(i % 2 ? a : b, SHORT, i % 2 === 1))).finally(() => {
    process.kill(frozen, "SIGCONT");
    thawed = true;
  });
  t.true(thawed);
  lostAnswers.forEach(keep);
  // Both servers answer again before the next faults.
  await waitFor(async () => (await Promise.all(live.map((s) => fetch(`${s.url}/healthz`)))).every((r) => r.status === 200), {
    message: "both servers healthy",
  });
  // A create whose answer never reached its server (as one killed between the two leaves it): no instance counted its submit.
  const store = new JobStore(redis.client, { prefix, ttlSucceededS: 3600, ttlFailedS: 3600 });
  for (let i = 0; i < 2; i++)
    keep(await store.create({ type: "count", params: { start: 1, end: 2, increment: 1 }, total: 2, queueMax: 1000 }));
  const after = await Promise.all(Array.from({ length: 4 }, (_, i) => submitSure(i % 2 ? a : b, SHORT, false)));
  after.forEach(keep);

  // 4. Cancels racing starts: public, admin job page, bulk; each as soon as the job is created.
  for (let i = 0; i < 3; i++) {
    const id = keep(await submitSure(a, SHORT, true))!;
    const res = await answered(() => post(`${b.url}/jobs/${id}/cancel`, {}, JSON_ACCEPT));
    if (![202, 409].includes(res.status)) {
      t.fail(
        `public cancel of ${id}: ${res.status} ${await res.text()} exists=${await redis.client.exists(`${prefix}:{jobs}:job:${id}`)} a=${await fetch(`${a.url}/jobs/${id}`, { headers: JSON_ACCEPT }).then((r) => r.status)} b=${await fetch(`${b.url}/jobs/${id}`, { headers: JSON_ACCEPT }).then((r) => r.status)}`,
      );
    }
  }
  for (let i = 0; i < 3; i++) {
    const id = keep(await submitSure(b, SHORT, false))!;
    const res = await answered(() => post(`${a.url}/admin/jobs/${id}/cancel`, {}, { Cookie: cookie, ...JSON_ACCEPT }));
    t.true([202, 409].includes(res.status), `admin cancel: ${res.status}`);
  }
  const many = await Promise.all(Array.from({ length: 6 }, (_, i) => submitSure(i % 2 ? a : b, SHORT, i % 2 === 0)));
  many.forEach(keep);
  const bulk = await answered(() => post(`${b.url}/admin/bulk/cancel-queued`, { confirm: "yes" }, { Cookie: cookie, ...JSON_ACCEPT }));
  t.is(bulk.status, 200);

  // Everything settles: nothing waits or runs, no end waits for its report.
  await waitFor(
    async () => {
      const { queued, running } = await countsOf(live);
      return queued === 0 && running === 0 && (await unreported(redis.client, prefix)) === 0;
    },
    { timeout: 45_000, message: "every job to end and be reported" },
  );
  // The reports of the last ends (each reads its record once) are in once the sums meet.
  let counts = await countsOf(live);
  await waitFor(
    async () => {
      counts = await countsOf(live);
      return Object.values(counts.byType).every((c) => c.submitted === c.finished);
    },
    { timeout: 10_000, message: () => `submitted = finished per type: ${JSON.stringify(counts.byType)}` },
  );

  const list = await jobsList(a, cookie);
  const ids = list.map((r) => r.id);
  t.is(new Set(ids).size, ids.length, "no job twice in the list");
  for (const id of submitted) t.true(ids.includes(id), `job ${id} answered to a submit is listed`);
  for (const [type, c] of Object.entries(counts.byType)) {
    const rows = list.filter((r) => r.type === type);
    t.is(c.submitted, rows.length, `${type}: every listed job counted submitted once`);
    t.is(c.finished + counts.queued + counts.running, c.submitted, `${type}: submitted = finished + queued + running`);
    const states: Record<string, number> = {};
    for (const r of rows) states[r.state] = (states[r.state] ?? 0) + 1;
    for (const state of new Set([...Object.keys(states), ...Object.keys(c.states)]))
      t.is(c.states[state] ?? 0, states[state] ?? 0, `${type}: ${state} in the metrics and the list`);
  }
  t.true(list.length >= submitted.length, "jobs created by a refused submit are listed too, never twice");
  t.log(`${list.length} jobs: ${JSON.stringify(counts.byType)}`);
});

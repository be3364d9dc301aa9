// sidejob on a real Redis Cluster (three masters, three replicas): the core
// flow, cancel, lost-job detection and several instances, as real server
// processes; then a master killed mid-job and its replica promoted. Nothing
// here depends on which shard a job's keys land on.
import test, { type ExecutionContext } from "ava";
import { connectRedis, RedisRefusedError, waitUntilReady } from "../../jobs/core/redis.ts";
import { loadJobSettings, redisTarget } from "../../jobs/core/settings.ts";
import { JobStore, isTerminal } from "../../jobs/core/store.ts";
import { clusterKeysUnder, FAILOVER_MS, useCluster } from "../support/cluster.ts";
import { jobJson, LONG_COUNT, submit, waitForState, watchAnswers, type JobJson } from "../support/http.ts";
import { jsonLines } from "../support/logs.ts";
import { isAlive } from "../support/procs.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { DEFAULT_TIMEOUT, waitFor, waitWhileProgressing } from "../support/wait.ts";
import { START_GRACE_MS } from "../../server/supervisor/index.ts";

/**
 * Submits a short count, again after a 503 (as a client obeying Retry-After does): a busy
 * instance may answer a burst with 503, which is not what the tests that call this are about.
 */
async function submitOnceAccepted(url: string): Promise<string> {
  return waitFor(
    async () => {
      try {
        return await submit(url, { start: "1", end: "3", increment: "1" });
      } catch (err) {
        if (/answered 503/.test((err as Error).message)) return null;
        throw err;
      }
    },
    { interval: 500, message: "a submit accepted" },
  );
}

const cluster = useCluster(test);

const QUICK = { start: "1", end: "5", increment: "1" };
const count = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** A store on the cluster under a server's prefix, to read what the pages do not show (the claiming instance). */
async function storeFor(t: ExecutionContext, env: Record<string, string>): Promise<JobStore> {
  const settings = loadJobSettings(env);
  const target = redisTarget(settings);
  // The job profile: a test's reads wait out a busy machine instead of failing after 1.5 s.
  const redis = connectRedis(target, "job");
  t.teardown(() => redis.disconnect());
  await waitUntilReady(redis, target, 10_000);
  return new JobStore(redis, { prefix: settings.redisPrefix, partitions: settings.redisPartitions, ttlSucceededS: 60, ttlFailedS: 60 });
}

/** The instance that claimed a job (its record's owner). */
async function ownerOf(store: JobStore, id: string): Promise<string | null> {
  return (await store.redis.hget(store.jobKeys(id)[0], "owner")) ?? null;
}

// Serial: they share one cluster, and the last one kills one of its masters.
test.serial(
  "the core flow on a cluster: a count and a command type run and shown; REDIS_URL is ignored, nothing local started",
  async (t) => {
    // Nothing listens on this REDIS_URL: the server must not use it.
    const env = serverEnv(cluster, "core", { REDIS_URL: "redis://127.0.0.1:1", COUNT_STEP_DELAY_MS: "0" });
    const server = await startServer(t, env);
    const ignored = jsonLines(server.output()).find((l) => /REDIS_URL is ignored: REDIS_CLUSTER_NODES is set/.test(l.msg));
    const listening = jsonLines(server.output()).find((l) => l.msg.startsWith("sidejob listening on"));
    t.truthy(ignored, server.output());
    t.is(ignored?.instance, listening?.instance, "written before the instance exists, the line carries its id");
    t.regex(server.output(), /listening on .*Redis Cluster at REDIS_CLUSTER_NODES=/);
    t.notRegex(server.output(), /started a redis-server/);
    const id = await submit(server.url, QUICK);
    const done = await waitForState(server.url, id, "succeeded");
    t.deepEqual(done.results, count(5));
    const page = await (await fetch(`${server.url}/jobs/${id}`)).text();
    t.regex(page, /5 values, from 1 to 5 by 1/);
    t.true((await clusterKeysUnder(cluster, env.REDIS_PREFIX!)).length > 0, "the job's keys are on the cluster");

    // A command type: the runner connects the same way, and its output file is stored on the cluster.
    const res = await fetch(`${server.url}/jobs/new/primes`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "n=100",
    });
    t.is(res.status, 303);
    const primes = res.headers.get("location")!.split("/").pop()!;
    await waitForState(server.url, primes, "succeeded");
    const file = await fetch(`${server.url}/jobs/${primes}/files/primes.txt`);
    t.is(file.status, 200);
    t.regex(await file.text(), /^2\b[\s\S]*\b97\s*$/);
  },
);

test.serial("cancel on a cluster: a running count stops and is recorded cancelled", async (t) => {
  const env = serverEnv(cluster, "cancel", { COUNT_STEP_DELAY_MS: "100" });
  const server = await startServer(t, env);
  const id = await submit(server.url, LONG_COUNT);
  const running = await waitForState(server.url, id, "running");
  const res = await fetch(`${server.url}/jobs/${id}/cancel`, { method: "POST", redirect: "manual" });
  t.is(res.status, 303);
  const cancelled = await waitForState(server.url, id, "cancelled");
  t.true(cancelled.done < 1000);
  await waitFor(() => !isAlive(running.pid!), { message: "the job's process to exit" });
});

test.serial(
  "lost-job detection on a cluster: a job whose server and process are killed is recorded lost by another instance",
  async (t) => {
    const env = serverEnv(cluster, "lost", { COUNT_STEP_DELAY_MS: "100", JOB_HEARTBEAT_MS: "1000", JOB_MAX_ATTEMPTS: "1" });
    const a = await startServer(t, env);
    const id = await submit(a.url, LONG_COUNT);
    const running = await waitForState(a.url, id, "running");
    const b = await startServer(t, env);
    a.kill("SIGKILL");
    await a.exited;
    t.true(isAlive(running.pid!), "the job outlives its server");
    // Its whole process group, as a machine that loses the job would.
    process.kill(-running.pid!, "SIGKILL");
    const lost = await waitForState(b.url, id, "failed");
    t.is(lost.reason, "lost");
    t.is(lost.signal, null, "no instance saw the process exit");
  },
);

test.serial("3,000 jobs spread over the three masters: each holds 25% to 42% of the job keys", async (t) => {
  const env = serverEnv(cluster, "spread", {});
  const store = await storeFor(t, env);
  t.is(store.partitions.length, 16, "a cluster's default partitions");
  const JOBS = 3000;
  for (let made = 0; made < JOBS; made += 100) {
    await Promise.all(
      Array.from({ length: 100 }, () =>
        store.create({ type: "count", params: { start: 1, end: 2, increment: 1 }, total: 2, queueMax: JOBS }),
      ),
    );
  }
  const held = new Map<number, number>();
  for (const key of await clusterKeysUnder(cluster, env.REDIS_PREFIX!)) {
    if (!/:job:[0-9a-f]{32}$/.test(key)) continue;
    const port = await cluster.masterOf(key);
    held.set(port, (held.get(port) ?? 0) + 1);
  }
  const shares = [...held.values()];
  t.is(
    shares.reduce((a, b) => a + b, 0),
    JOBS,
    "every job's record was found on a master",
  );
  t.is(shares.length, 3, "every master holds jobs");
  for (const n of shares) t.true(n >= 0.25 * JOBS && n <= 0.42 * JOBS, `a master holds ${n} of ${JOBS}`);
  t.log(`job records per master: ${shares.join(", ")} (${shares.map((n) => `${((100 * n) / JOBS).toFixed(1)}%`).join(", ")})`);
  t.is(await store.queueLength(), JOBS);
});

test.serial(
  "submitters take turns on a cluster: A's 40 jobs, then B's one, spread over 16 partitions; B's is taken after at most one of A's",
  async (t) => {
    const env = serverEnv(cluster, "turns", {});
    const store = await storeFor(t, env);
    const COUNT_PARAMS = { start: 1, end: 2, increment: 1 };
    const owners = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      owners.set(await store.create({ type: "count", params: COUNT_PARAMS, total: 2, queueMax: 1000, submitter: "person A" }), "A");
    }
    owners.set(await store.create({ type: "count", params: COUNT_PARAMS, total: 2, queueMax: 1000, submitter: "person B" }), "B");
    const order: string[] = [];
    for (let i = 0; i < 41; i++) {
      const claimed = await store.claim("turns-test", 60_000, ["count"], ["count"]);
      if (!claimed) break;
      order.push(owners.get(claimed.id)!);
      await store.finish(claimed.id, "succeeded", "force");
    }
    t.is(order.length, 41);
    t.true(order.indexOf("B") <= 1, order.join(""));
  },
);

test.serial("two instances on a cluster: submit on one, watch and cancel on the other", async (t) => {
  const env = serverEnv(cluster, "two", { COUNT_STEP_DELAY_MS: "100" });
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)]);
  const quick = await submit(a.url, QUICK);
  t.deepEqual((await waitForState(b.url, quick, "succeeded")).results, count(5));
  const slow = await submit(a.url, LONG_COUNT);
  await waitForState(b.url, slow, "running");
  const res = await fetch(`${b.url}/jobs/${slow}/cancel`, { method: "POST", redirect: "manual" });
  t.is(res.status, 303);
  t.true((await waitForState(a.url, slow, "cancelled")).done < 1000);
});

test.serial(
  "idempotent submits on a cluster: one key sent to two instances, and an upload under a form's token sent twice, each make one job, with its key's record on its slot",
  async (t) => {
    const env = serverEnv(cluster, "once", {});
    const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)]);
    const key = "cluster-idempotency-key-0001";
    /** The job a JSON submit under the key names; a 503 (a busy instance) is sent again, as a client obeying Retry-After does. */
    const submitWithKey = (url: string) =>
      waitFor(
        async () => {
          const res = await fetch(`${url}/count`, {
            method: "POST",
            headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": key },
            body: JSON.stringify({ start: 1, end: 3, increment: 1 }),
          });
          if (res.status === 503) return null;
          if (res.status !== 202) throw new Error(`POST /count answered ${res.status}: ${await res.text()}`);
          return ((await res.json()) as { id: string }).id;
        },
        { interval: 500, message: "a submit accepted" },
      );
    const ids = [await submitWithKey(a.url), await submitWithKey(b.url), await submitWithKey(a.url)];
    t.is(new Set(ids).size, 1);

    const page = await (await fetch(`${a.url}/jobs/new/csv-check`)).text();
    const token = /name="submission" value="([^"]+)"/.exec(page)![1]!;
    const postCsv = async (url: string) => {
      const form = new FormData();
      form.append("submission", token);
      form.append("delimiter", "detect");
      form.append("header", "true");
      form.append("file", new Blob(["name,age\nAda,36\n"], { type: "text/csv" }), "people.csv");
      const res = await fetch(`${url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual" });
      if (res.status !== 303) throw new Error(`the form answered ${res.status}: ${await res.text()}`);
      return res.headers.get("location")!.split("/").pop()!;
    };
    const upload = await postCsv(a.url);
    t.is(await postCsv(b.url), upload);
    t.is((await waitForState(b.url, upload, ["succeeded", "failed"])).state, "succeeded");

    const keys = await clusterKeysUnder(cluster, env.REDIS_PREFIX!);
    const jobs = keys.filter((k) => /:job:[0-9a-f]{32}$/.test(k));
    t.deepEqual(jobs.map((k) => k.slice(-32)).sort(), [ids[0]!, upload].sort(), "one job per request, whichever instance took it");
    const records = keys.filter((k) => k.includes(":once:"));
    t.is(records.length, 2);
    // Each record shares its job's hash tag, so one script wrote both on one slot.
    const tag = (k: string) => /\{([^}]+)\}/.exec(k)![1];
    t.deepEqual(records.map(tag).sort(), jobs.map(tag).sort());
  },
);

test.serial(
  "three instances, 90 jobs: none above its concurrency; one SIGKILLed mid-way: its jobs end, its queued work is taken",
  async (t) => {
    // Long on a busy 2-core machine (90 job processes): the bounds that matter are the waits' own.
    t.timeout(600_000);
    const CONCURRENCY = 2;
    // Fifteen times the six slots: at the kill (a tenth ended) most are still queued, which is what
    // the test needs; more jobs (there were 300) only made it longer.
    const JOBS = 90;
    const HEARTBEAT_MS = 1000;
    // Heartbeat 1 s: a job claimed by the killed instance but not started is recorded after 3 s + START_GRACE_MS.
    const env = serverEnv(cluster, "three", {
      COUNT_STEP_DELAY_MS: "0",
      JOB_CONCURRENCY_COUNT: String(CONCURRENCY),
      JOB_HEARTBEAT_MS: String(HEARTBEAT_MS),
    });
    // How long the jobs may go without one of them ending: the killed instance's claims end after their
    // start lease (3 heartbeats + START_GRACE_MS) and a sweep; the live instances end one every few seconds.
    const STALL_MS = 3 * HEARTBEAT_MS + START_GRACE_MS + DEFAULT_TIMEOUT;
    const servers = await Promise.all([startServer(t, env), startServer(t, env), startServer(t, env)]);
    const store = await storeFor(t, env);
    // Nine at a time (three per instance), so that jobs are queued at the kill whatever the machine's
    // speed: one by one, a busy machine submitted them no faster than six slots ran them. (All at once,
    // an instance stalled by the burst answered some with a 503.)
    const LANES = 9;
    const all: string[] = new Array<string>(JOBS);
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        for (let i = lane; i < JOBS; i += LANES) all[i] = await submitOnceAccepted(servers[i % 3]!.url);
      }),
    );
    const killed = servers[0];
    // Mid-way: once a tenth of the jobs have ended.
    // (The time the jobs take is the machine's speed times their number: the waits bound a stall, not the whole.)
    await waitWhileProgressing(
      async () => {
        const states = await Promise.all(all.map(async (id) => (await store.read(id, "auto"))?.state));
        const ended = states.filter((s) => s && isTerminal(s)).length;
        return { value: ended >= JOBS / 10 ? true : null, progress: ended };
      },
      { stall: STALL_MS, message: "a tenth of the jobs to end" },
    );
    const killedOwner = await waitFor(async () => {
      for (const id of all) {
        const owner = await ownerOf(store, id);
        if (owner?.includes(`:${killed.proc.pid}:`)) return owner;
      }
      return null;
    });
    const t0 = Date.now();
    killed.kill("SIGKILL");
    await killed.exited;
    // Waiting in the queue (a claimed job is "queued" too until its process starts, but has left the queue).
    const queuedAtKill = new Set(
      (await Promise.all(all.map(async (id) => ((await store.read(id, "auto"))?.queuePosition != null ? id : null)))).filter(
        (id): id is string => id !== null,
      ),
    );

    // Every job ends: its process finishes it (processes outlive their server), or the sweep records it.
    const records = await waitWhileProgressing(
      async () => {
        const read = await Promise.all(all.map((id) => store.read(id, "all")));
        const ended = read.filter((r) => r && isTerminal(r.state)).length;
        return { value: ended === JOBS ? read.map((r) => r!) : null, progress: ended };
      },
      { stall: STALL_MS, message: "every job to end" },
    );
    const byState: Record<string, number> = {};
    for (const r of records) {
      const key = `${r.state}${r.reason ? ` (${r.reason})` : ""}`;
      byState[key] = (byState[key] ?? 0) + 1;
    }
    t.log(
      `states: ${JSON.stringify(byState)}; queued when the instance was killed: ${queuedAtKill.size}; all ended ${Date.now() - t0} ms after the kill`,
    );
    for (const r of records) {
      if (r.state === "succeeded") t.deepEqual(r.results, count(3), `job ${r.id}'s results`);
      // Only the killed instance's claims may end otherwise: started, or claimed and never started.
      else t.true(r.state === "failed" && (r.reason === "lost" || r.reason === "never-started"), `job ${r.id}: ${r.state} ${r.reason}`);
    }

    // No instance above its concurrency: a slot is held from the claim until the process has exited, so
    // at no moment did one owner have more than CONCURRENCY jobs between their claim and their end.
    const owners = new Map<string, [number, number][]>();
    for (const r of records) {
      const h = await store.redis.hgetall(store.jobKeys(r.id)[0]);
      t.truthy(h.owner, `job ${r.id} has its claiming instance`);
      const spans = owners.get(h.owner!) ?? [];
      spans.push([Number(h.claimedAt), Number(h.finishedAt)]);
      owners.set(h.owner!, spans);
    }
    t.is(owners.size, 3, "every instance ran jobs");
    for (const [owner, spans] of owners) {
      const events = spans.flatMap(([from, to]) => [
        [from, 1],
        [to, -1],
      ]);
      // Ends before starts at the same millisecond: a slot freed and taken again at once.
      events.sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
      let now = 0;
      let most = 0;
      for (const [, step] of events) most = Math.max(most, (now += step!));
      t.true(most <= CONCURRENCY, `${owner} ran ${most} jobs at once`);
    }
    // The killed instance's queued work went to the others.
    for (const id of queuedAtKill) {
      const owner = await ownerOf(store, id);
      t.not(owner, killedOwner, `job ${id}, queued at the kill, was taken by a live instance`);
    }
    t.true(queuedAtKill.size > 0, "some jobs were still queued when the instance was killed");
  },
);

test.serial(
  "a master killed mid-job, its replica promoted: jobs finish or are recorded lost; nothing stays running; finished jobs do not change",
  async (t) => {
    t.timeout(180_000);
    // A lease longer than any failover this test waits for (FAILOVER_MS; about 5 s on a quiet machine, much
    // longer on a busy one): jobs are expected to ride it out (see README).
    const HEARTBEAT_MS = Math.ceil(FAILOVER_MS / 3);
    const env = serverEnv(cluster, "failover", {
      COUNT_STEP_DELAY_MS: "150",
      JOB_CONCURRENCY: "8",
      JOB_HEARTBEAT_MS: String(HEARTBEAT_MS),
    });
    const server = await startServer(t, env);
    const store = await storeFor(t, env);
    // Some finished jobs, whose records must not change.
    const finished = await Promise.all([1, 2, 3].map(() => submit(server.url, QUICK)));
    const before = new Map<string, JobJson>();
    for (const id of finished) before.set(id, await waitForState(server.url, id, "succeeded"));
    // Jobs running across the failover: 40 values at 150 ms each.
    const running = await Promise.all([1, 2, 3, 4].map(() => submit(server.url, { start: "1", end: "40", increment: "1" })));
    for (const id of running) await waitForState(server.url, id, "running");
    await waitFor(async () => (await jobJson(server.url, running[0]!)).done >= 3, { message: "the jobs to report progress" });

    const masterPort = await cluster.masterOf(store.jobKeys(running[0]!)[0]);
    const watch = watchAnswers(`${server.url}/jobs/${running[0]}`);
    const killedAt = Date.now();
    await cluster.kill(masterPort);
    const promoted = await cluster.waitForFailover(masterPort, FAILOVER_MS);
    t.log(`killed master ${masterPort}; replica ${promoted} promoted after ${Date.now() - killedAt} ms`);
    await waitFor(() => watch.statuses.lastIndexOf(200) > Math.max(0, watch.statuses.lastIndexOf(503)), {
      message: () => `a 200 again after the switch (answers: ${watch.statuses.join(",")})`,
    });
    await watch.stop();
    t.log(
      `the job's page answered ${watch.statuses.filter((s) => s === 503).length} times 503, ${watch.statuses.filter((s) => s === 200).length} times 200`,
    );
    t.deepEqual(watch.failures, [], "every request was answered");
    if (watch.statuses.includes(500)) t.log(server.output().slice(-4000));
    t.true(
      watch.statuses.every((s) => s === 200 || s === 503),
      `only pages or 503 pages: ${watch.statuses.join(",")}`,
    );

    // Bound: a lease (3 x JOB_HEARTBEAT_MS, the failover's bound) and a sweep, with the default wait on top.
    const ended = await Promise.all(
      running.map((id) => waitForState(server.url, id, ["succeeded", "failed"], 3 * HEARTBEAT_MS + DEFAULT_TIMEOUT)),
    );
    t.log(`after the failover: ${ended.map((j) => `${j.state}${j.reason ? ` (${j.reason})` : ""}`).join(", ")}`);
    for (const job of ended) {
      if (job.state === "succeeded") t.deepEqual(job.results, count(40), `job ${job.id}'s results, each once`);
      else t.is(job.reason, "lost", `job ${job.id} failed: ${job.reason}`);
    }
    t.true(
      ended.some((j) => j.state === "succeeded"),
      "a job process rode out the failover",
    );
    for (const [id, was] of before) {
      const now = await jobJson(server.url, id);
      t.deepEqual(
        { state: now.state, results: now.results, finishedAt: now.finishedAt },
        { state: was.state, results: was.results, finishedAt: was.finishedAt },
      );
    }
    t.is(server.proc.exitCode, null, "the server runs on");
    const health = await waitFor(async () => (await fetch(`${server.url}/healthz`)).status === 200, {
      message: "the server to answer healthy",
    });
    t.true(health);
  },
);

test.serial(
  "a failover longer than the jobs' lease: the jobs on that shard are recorded lost soon after the switch, their processes stop, and they run again to the end",
  async (t) => {
    t.timeout(120_000);
    // The master killed before comes back, as a replica of the one that took its place.
    for (const node of cluster.nodes) await cluster.restart(node.port);
    // A lease of 1.25 s, shorter than any failover with a 2 s node timeout.
    const env = serverEnv(cluster, "failover-lost", { COUNT_STEP_DELAY_MS: "150", JOB_CONCURRENCY: "8", JOB_HEARTBEAT_MS: "500" });
    const server = await startServer(t, env);
    const store = await storeFor(t, env);
    const ids = await Promise.all([1, 2, 3, 4].map(() => submit(server.url, { start: "1", end: "60", increment: "1" })));
    const before = new Map<string, JobJson>();
    for (const id of ids) before.set(id, await waitForState(server.url, id, "running"));
    const masterPort = await cluster.masterOf(store.jobKeys(ids[0]!)[0]);
    const onShard = new Set<string>();
    for (const id of ids) if ((await cluster.masterOf(store.jobKeys(id)[0])) === masterPort) onShard.add(id);

    await cluster.kill(masterPort);
    await cluster.waitForFailover(masterPort);
    const switched = Date.now();
    // Each job runs its 9 s course, the lost ones once more from the start.
    const ended = await Promise.all(ids.map((id) => waitForState(server.url, id, ["succeeded", "failed"], 60_000)));
    t.log(`after the failover: ${ended.map((j) => `${j.state} (attempt ${j.attempt})`).join(", ")}`);
    for (const job of ended) {
      if (onShard.has(job.id)) {
        // Their leases ran out during the switch; the first sweep after it (every 0.5 s) records them lost and
        // queues them again. 10 s is that bound with room for a busy machine.
        t.like(job, { state: "succeeded", attempt: 2 }, `job ${job.id}, on the killed master, ran again`);
        t.like(job.attempts[0], { attempt: 1, reason: "lost" });
        t.true(Date.parse(job.attempts[0]!.endedAt) - switched < 10_000, "recorded lost soon after the switch");
      } else {
        t.is(job.state, "succeeded", `job ${job.id}, elsewhere`);
      }
    }
    // Refused at their next report, the lost attempts' processes stop by themselves.
    for (const id of onShard) await waitFor(() => !isAlive(before.get(id)!.pid!), { message: `job ${id}'s process to stop` });
  },
);

test("a wrong password for the cluster's nodes is refused at once, naming REDIS_PASSWORD and never the password", async (t) => {
  const settings = loadJobSettings({ ...cluster.env, REDIS_PASSWORD: "not-the-cluster-password" });
  const target = redisTarget(settings);
  const client = connectRedis(target, "supervisor");
  t.teardown(() => client.disconnect());
  const started = Date.now();
  const err = await t.throwsAsync(waitUntilReady(client, target, 20_000), { instanceOf: RedisRefusedError });
  t.true(Date.now() - started < 10_000, "at once, not at the deadline");
  t.regex(err.message, /REDIS_USERNAME and REDIS_PASSWORD/);
  t.false(err.message.includes("not-the-cluster-password"));
});

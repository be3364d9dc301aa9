// Job types with runOn: "slurm", against a real single-node Slurm (Debian's
// slurmctld, slurmd, munge: test/support/slurm.ts, which .ci/run's packages
// make possible): a Python type through the form end to end (progress, log,
// results, an output file) with its Slurm job in the JSON; the runner's
// environment holding nothing of the server's; a pending job's page showing
// the cluster's queue and Slurm's reason, then its cancel; the cancel of a
// running job (processes gone, squeue empty); a memory kill recorded as
// memory-limit; a server restart while a Slurm job runs; a node failure and a
// preemption (recorded lost with Slurm's state, in words, and run again as
// the type's retry rules say). One Slurm for the file; the tests run one
// after another (each its own app and prefix).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { useRedis } from "../support/redis.ts";
import { launchApp, type TestApp } from "../support/app.ts";
import { isAlive, processesOfJob } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";
import { pythonTypesDir, type PythonType } from "../support/python-types.ts";
import { slurmMissing, startSlurm, type TestSlurm } from "../support/slurm.ts";
import { jobEnvironment } from "../../server/config.ts";
import { SCHEDULER_ENV } from "../../jobs/core/host-box.ts";
import { leaseMsOf } from "../../jobs/core/settings.ts";
import { POLL_MS } from "../../server/supervisor/remote-jobs.ts";
import type { JobRecord } from "../../jobs/core/store.ts";
import type { Job } from "../../server/api-schemas.ts";

const redis = useRedis(test, { tcp: true });
let slurm: TestSlurm;

test.before(async () => {
  const missing = slurmMissing();
  if (missing) throw new Error(`these tests need a single-node Slurm: ${missing}`);
  slurm = await startSlurm();
});
test.after.always(async () => {
  await slurm?.stop();
});

/** Types that run on Slurm (job.json folders). */
function typesDir(t: ExecutionContext, types: PythonType[]): string {
  return pythonTypesDir(t, types, { runOn: "slurm" });
}

/** A Slurm job that takes every CPU of the node (so that the next ones wait for Resources), cancelled after the test: its id. */
async function fillNode(t: ExecutionContext): Promise<string> {
  const hog = (
    await slurm.command("sbatch", [
      "--parsable",
      `--cpus-per-task=${os.availableParallelism()}`,
      "--output=/dev/null",
      "--wrap",
      "sleep 300",
    ])
  ).trim();
  t.teardown(() => slurm.command("scancel", [hog]).catch(() => ""));
  return hog;
}

/** A log folder the compute node writes into, kept across the apps of a test. */
function logDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-slurm-logs-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function slurmApp(t: ExecutionContext, name: string, env: Record<string, string>, prefix?: string): Promise<TestApp> {
  const a = await launchApp({
    redis,
    name,
    prefix,
    // JOB_MEMORY_MB: --mem of a type that declares none, within what a small test machine's node offers.
    env: { SLURM_CONF: slurm.conf, JOB_HEARTBEAT_MS: "1000", ISOLATION_UNAVAILABLE: "unconfined", JOB_MEMORY_MB: "512", ...env },
  });
  t.teardown(() => a.close());
  return a;
}

async function submit(a: TestApp, type: string, params: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${a.url}/jobs/new/${type}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(params),
  });
  if (res.status !== 202) throw new Error(`submit ${type}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function ended(a: TestApp, id: string, timeout = 60_000): Promise<JobRecord> {
  return a.waitForState(id, ["succeeded", "failed", "cancelled"], timeout);
}

async function json(a: TestApp, id: string): Promise<Job> {
  return (await (await a.get(`/jobs/${id}`, { accept: "application/json" })).json()) as Job;
}

async function pageText(a: TestApp, id: string): Promise<string> {
  return (await (await a.get(`/jobs/${id}`)).text()).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ");
}

const WORK = `
import json, os, sys, time
params = json.loads(sys.stdin.readline())
fd = os.fdopen(3, "w", buffering=1)
n = params["n"]
fd.write(json.dumps({"total": n}) + "\\n")
for i in range(n):
    print(f"step {i + 1} of {n}", flush=True)
    fd.write(json.dumps({"done": i + 1, "status": f"step {i + 1}"}) + "\\n")
    time.sleep(0.1)
open(os.path.join(os.environ["SIDEJOB_OUTPUT_DIR"], "squares.csv"), "w").write("".join(f"{i},{i * i}\\n" for i in range(n)))
fd.write(json.dumps({"result": {"sum": n * (n - 1) // 2}}) + "\\n")
`;

const SLEEPER = `
import os, time
os.write(3, b'{"status": "sleeping"}\\n')
time.sleep(int(os.environ.get("SLEEP_S", "600")))
`;

test.serial("a Python type runs through Slurm from the form: progress, log, results, output file, its Slurm job in the JSON", async (t) => {
  const dir = typesDir(t, [
    { name: "squares", script: WORK, fields: [{ name: "n", kind: "integer", label: "N", min: 1, max: 100, default: 5 }], publicLog: true },
  ]);
  process.env.SIDEJOB_SLURM_TEST_SECRET = "do-not-leak-7f3a";
  t.teardown(() => delete process.env.SIDEJOB_SLURM_TEST_SECRET);
  const a = await slurmApp(t, "slurm-e2e", {
    JOB_TYPES_DIR: dir,
    JOB_LOG_DIR: logDir(t),
    ADMIN_PASSWORD: "admin-secret-1234567",
    SESSION_SECRET: "session-secret-1234567890abcdef0123456789",
  });
  const res = await a.post("/jobs/new/squares", { n: "8" });
  t.is(res.status, 303);
  const id = /\/jobs\/([0-9a-f]+)/.exec(res.headers.get("location") ?? "")![1]!;
  // While it runs: the runner's environment is the job environment, nothing of the server's.
  const running = await a.waitForState(id, ["running", "succeeded"], 30_000);
  if (running.state === "running" && running.pid && isAlive(running.pid)) {
    const environ = fs.readFileSync(`/proc/${running.pid}/environ`, "latin1");
    t.false(environ.includes("do-not-leak-7f3a"), "the submitter's environment does not reach the job");
    t.false(environ.includes("admin-secret-1234567"));
    t.false(environ.includes("session-secret-1234567890abcdef"));
    const names = environ
      .split("\0")
      .filter(Boolean)
      .map((kv) => kv.slice(0, kv.indexOf("=")));
    const allowed = new Set([...Object.keys(jobEnvironment(a.config)), SCHEDULER_ENV]);
    t.deepEqual(
      names.filter((n) => !allowed.has(n)),
      [],
      "only the allow-listed variables",
    );
  }
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.done, 8);
  t.is(job.total, 8);
  t.deepEqual(job.results, [{ sum: 28 }]);
  // The runner stores its log's last lines after the job's end (kit.ts): on a compute node no server waits for its exit.
  const log = await waitFor(
    async () => {
      const lines = await a.store.readLog(id);
      return lines.includes("step 8 of 8") ? lines : null;
    },
    { message: "the log's last line" },
  );
  t.true(log.includes("step 1 of 8"));
  await waitFor(async () => (await json(a, id)).slurm?.state === "COMPLETED", { message: "Slurm's end to be recorded" });
  const body = await json(a, id);
  t.regex(body.slurm!.jobId, /^\d+$/);
  t.deepEqual(
    body.files.map((f) => f.name),
    ["squares.csv"],
  );
  const file = await a.get(body.files[0]!.url);
  t.is((await file.text()).split("\n")[7], "7,49");
  t.regex(await pageText(a, id), /28/);
});

test.serial("a pending job's page shows the cluster's queue and Slurm's reason; its cancel leaves nothing in squeue", async (t) => {
  const dir = typesDir(t, [{ name: "waiter", script: SLEEPER, timeoutMs: 120_000 }]);
  const a = await slurmApp(t, "slurm-pending", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logDir(t) });
  // Every CPU of the node taken: the job waits for Resources.
  const hog = await fillNode(t);
  await waitFor(async () => (await slurm.command("squeue", ["--noheader", "-j", hog, "-o", "%T"])).trim() === "RUNNING", {
    message: "the hog to run",
  });
  const id = await submit(a, "waiter");
  await waitFor(async () => (await json(a, id)).slurm?.reason === "Resources", {
    message: "the job to wait for Resources",
    timeout: 20_000,
  });
  const body = await json(a, id);
  t.is(body.state, "queued");
  t.is(body.slurm!.state, "PENDING");
  const text = await pageText(a, id);
  t.regex(text, /waits in the cluster(?:'|&#39;)s queue/i);
  t.regex(text, /Resources/);
  const cancel = await a.post(`/jobs/${id}/cancel`, {});
  t.true(cancel.status < 400);
  t.is((await ended(a, id)).state, "cancelled");
  await waitFor(async () => !(await slurm.queued()).includes(body.slurm!.jobId), {
    message: "the Slurm job to leave squeue",
    timeout: 20_000,
  });
  t.pass();
});

test.serial("cancel of a running Slurm job: it ends cancelled, its processes are gone and squeue is empty", async (t) => {
  const dir = typesDir(t, [{ name: "sleeper", script: SLEEPER, timeoutMs: 120_000 }]);
  const a = await slurmApp(t, "slurm-cancel", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logDir(t) });
  const id = await submit(a, "sleeper");
  const running = await a.waitForState(id, "running", 30_000);
  await waitFor(() => processesOfJob(id).length > 0, { message: "the program to run" });
  const cancel = await a.post(`/jobs/${id}/cancel`, {});
  t.true(cancel.status < 400);
  const job = await ended(a, id, 30_000);
  t.is(job.state, "cancelled");
  await waitFor(async () => (await slurm.queued()).length === 0, { message: "squeue to be empty", timeout: 30_000 });
  await waitFor(() => processesOfJob(id).length === 0 && !isAlive(running.pid!), {
    message: "the job's processes to be gone",
    timeout: 10_000,
  });
  t.pass();
});

test.serial("a running job an operator scancels is lost, and runs again as the type's retry rules say", async (t) => {
  const dir = typesDir(t, [
    {
      name: "napper",
      script: `import time, os\nos.write(3, b'{"status": "napping"}\\n')\ntime.sleep(3)\nos.write(3, b'{"result": "woke"}\\n')\n`,
      maxAttempts: 2,
      retryBackoffMs: 0,
    },
  ]);
  const a = await slurmApp(t, "slurm-operator", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logDir(t) });
  const id = await submit(a, "napper");
  await a.waitForState(id, "running", 30_000);
  await waitFor(async () => (await json(a, id)).status === "napping", { message: "the program to run" });
  const first = (await json(a, id)).slurm!.jobId;
  await slurm.command("scancel", [first]);
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.attempt, 2);
  t.is(job.attempts[0]?.reason, "lost");
  t.deepEqual(job.results, ["woke"]);
  t.not((await json(a, id)).slurm?.jobId, first, "its second attempt is another Slurm job");
});

test.serial("a Slurm job past its --mem is killed by Slurm and ends memory-limit", async (t) => {
  const dir = typesDir(t, [
    {
      name: "hog",
      limits: { memoryMB: 200 },
      script: "import time\nchunks = []\nfor i in range(600):\n    chunks.append(b'x' * (1024 * 1024))\ntime.sleep(60)\n",
      timeoutMs: 120_000,
    },
  ]);
  const a = await slurmApp(t, "slurm-memory", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logDir(t) });
  const id = await submit(a, "hog");
  const job = await ended(a, id);
  t.is(job.state, "failed");
  t.is(job.reason, "memory-limit", JSON.stringify(job));
  t.is(job.limit, 200);
  t.regex(await pageText(a, id), /used more memory than its limit of 200 MB/);
});

test.serial("a server restart while a Slurm job runs: it finishes, and the new instance shows it", async (t) => {
  const dir = typesDir(t, [{ name: "nap", script: `import time, os\ntime.sleep(4)\nos.write(3, b'{"result": "rested"}\\n')\n` }]);
  const logs = logDir(t);
  const first = await launchApp({
    redis,
    name: "slurm-restart",
    env: {
      SLURM_CONF: slurm.conf,
      JOB_HEARTBEAT_MS: "1000",
      ISOLATION_UNAVAILABLE: "unconfined",
      JOB_MEMORY_MB: "512",
      JOB_TYPES_DIR: dir,
      JOB_LOG_DIR: logs,
    },
  });
  const id = await submit(first, "nap");
  await first.waitForState(id, "running", 30_000);
  await first.close();
  const second = await slurmApp(t, "slurm-restart", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logs }, first.prefix);
  const job = await ended(second, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.deepEqual(job.results, ["rested"]);
  t.regex(await pageText(second, id), /rested/);
  await waitFor(async () => (await slurm.queued()).length === 0, { message: "squeue to be empty", timeout: 20_000 });
});

test.serial(
  "a node failure: the attempt is lost with Slurm's NODE_FAIL, its page says so, and it runs again once the node is back",
  async (t) => {
    const dir = typesDir(t, [
      {
        name: "survivor",
        script: `import time, os\nos.write(3, b'{"status": "working"}\\n')\ntime.sleep(float(os.environ.get("NAP_S", "2")))\nos.write(3, b'{"result": "done"}\\n')\n`,
        maxAttempts: 2,
        retryBackoffMs: 0,
      },
    ]);
    const password = "slurm-admin-password";
    const a = await slurmApp(t, "slurm-node-fail", {
      JOB_TYPES_DIR: dir,
      JOB_LOG_DIR: logDir(t),
      ADMIN_PASSWORD: password,
      SESSION_SECRET: "s".repeat(40),
    });
    const node = (await slurm.command("sinfo", ["--noheader", "--format=%N"])).trim();
    // However the test ends, the node is up again for the tests after it.
    t.teardown(() => slurm.resume(node));
    const id = await submit(a, "survivor");
    await waitFor(async () => (await json(a, id)).status === "working", { message: "the program to run", timeout: 30_000 });
    const first = (await json(a, id)).slurm!.jobId;
    await slurm.command("scontrol", ["update", `NodeName=${node}`, "State=DOWN", "Reason=sidejob-test"]);
    // Attempt 1 is recorded lost from Slurm's state; attempt 2 waits while the node is down.
    const retried = await waitFor(
      async () => {
        const body = await json(a, id);
        return body.attempt === 2 ? body : null;
      },
      { message: "the job's second attempt", timeout: 30_000 },
    );
    t.is(retried.attempts[0]?.reason, "lost");
    t.deepEqual(retried.attempts[0]?.slurm, { jobId: first, state: "NODE_FAIL" });
    t.regex(await pageText(a, id), /Attempt 1 was stopped: the cluster(?:'|&#39;)s node it ran on failed/);
    await slurm.resume(node);
    const job = await ended(a, id);
    t.is(job.state, "succeeded", JSON.stringify(job));
    t.deepEqual(job.results, ["done"]);
    t.not(job.slurm?.jobId, first, "its second attempt is another Slurm job");
    // The operators' pages: the job's Slurm jobs, and what each instance sees of the deployment's.
    const login = await a.post("/admin/login", { password, next: "/admin" });
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(";")[0]!)
      .join("; ");
    const words = async (url: string) =>
      (await (await a.get(url, { Cookie: cookie })).text()).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ");
    await waitFor(async () => (await json(a, id)).slurm?.state === "COMPLETED", { message: "Slurm's end to be recorded" });
    const detail = await words(`/admin/jobs/${id}`);
    t.true(detail.includes(`lost (Slurm job ${first}, NODE_FAIL)`), "the first attempt's Slurm job and its end");
    t.true(detail.includes(`Slurm job ${job.slurm!.jobId}, COMPLETED`), "the current attempt's Slurm job");
    await a.supervisor.heartbeat();
    const overview = await words("/admin");
    t.regex(overview, /Slurm jobs/);
    t.regex(overview, /\d+ of 100 submitted/);
  },
);

test.serial("a job preempted by a more urgent partition's job ends lost with Slurm's PREEMPTED, in words", async (t) => {
  const cpus = os.availableParallelism();
  const dir = typesDir(t, [{ name: "yielder", script: SLEEPER, timeoutMs: 120_000, maxAttempts: 1, slurm: { cpus } }]);
  const a = await slurmApp(t, "slurm-preempt", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logDir(t) });
  const id = await submit(a, "yielder");
  await waitFor(async () => (await json(a, id)).status === "sleeping", { message: "the program to run", timeout: 30_000 });
  // Every CPU of the node asked by a job of the partition whose PriorityTier is higher (test/support/slurm.sh).
  await slurm.command("sbatch", ["--parsable", "--partition=urgent", `--cpus-per-task=${cpus}`, "--output=/dev/null", "--wrap", "true"]);
  const job = await ended(a, id, 30_000);
  t.is(job.state, "failed");
  t.is(job.reason, "lost", JSON.stringify(job));
  t.is((await json(a, id)).slurm?.state, "PREEMPTED");
  t.regex(await pageText(a, id), /stopped: the cluster stopped it to make room for more urgent work/);
  await waitFor(() => processesOfJob(id).length === 0, { message: "the job's processes to be gone", timeout: 10_000 });
});

test.serial("a job the cluster suspends is not taken for lost: resumed, it finishes as its first attempt", async (t) => {
  const dir = typesDir(t, [
    {
      name: "pausable",
      script: `import time, os\nos.write(3, b'{"status": "working"}\\n')\ntime.sleep(2)\nos.write(3, b'{"result": "resumed"}\\n')\n`,
    },
  ]);
  const a = await slurmApp(t, "slurm-suspend", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logDir(t) });
  const id = await submit(a, "pausable");
  await waitFor(async () => (await json(a, id)).status === "working", { message: "the program to run", timeout: 30_000 });
  const slurmId = (await json(a, id)).slurm!.jobId;
  await slurm.command("scontrol", ["suspend", slurmId]);
  t.teardown(() => slurm.command("scontrol", ["resume", slurmId]).catch(() => ""));
  await waitFor(async () => (await json(a, id)).slurm?.state === "SUSPENDED", { message: "Slurm's SUSPENDED to be recorded" });
  // Stopped for twice its lease (JOB_HEARTBEAT_MS 1 s): the instance renews it while Slurm says SUSPENDED.
  const until = Date.now() + 2 * leaseMsOf(1000);
  await waitFor(async () => ((await json(a, id)).state !== "running" ? "ended" : Date.now() > until ? "held" : null), {
    message: "the suspension to last",
    timeout: 30_000,
  }).then((what) => t.is(what, "held", "still running while suspended"));
  await slurm.command("scontrol", ["resume", slurmId]);
  const job = await ended(a, id);
  t.is(job.state, "succeeded", JSON.stringify(job));
  t.is(job.attempt, 1);
  t.deepEqual(job.results, ["resumed"]);
});

test.serial("SLURM_MAX_SUBMITTED holds over the deployment: two instances never keep more Slurm jobs submitted at once", async (t) => {
  const dir = typesDir(t, [{ name: "patient", script: SLEEPER, timeoutMs: 120_000 }]);
  const logs = logDir(t);
  const env = { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logs, SLURM_MAX_SUBMITTED: "2" };
  const a = await slurmApp(t, "slurm-places", env);
  const b = await slurmApp(t, "slurm-places", env, a.prefix);
  // Every CPU of the node taken: submitted jobs stay in Slurm's queue, holding their places.
  await fillNode(t);
  const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => submit(i % 2 ? b : a, "patient")));
  const submitted = async () =>
    (await slurm.command("squeue", ["--noheader", "--format=%j"])).split("\n").filter((name) => name.startsWith("sidejob-")).length;
  // Sampled until two queue reads of each instance have passed since the places were full.
  let most = 0;
  let fullSince = 0;
  await waitFor(
    async () => {
      const n = await submitted();
      most = Math.max(most, n);
      if (n < 2) fullSince = 0;
      else fullSince ||= Date.now();
      return fullSince > 0 && Date.now() - fullSince > 2 * POLL_MS;
    },
    { message: "two Slurm jobs submitted", timeout: 30_000, interval: 25 },
  );
  t.is(most, 2, "never more than SLURM_MAX_SUBMITTED in Slurm's queue");
  const states = await Promise.all(ids.map(async (id) => (await json(a, id)).state));
  t.is(states.filter((s) => s === "queued").length, 6, "the others wait in sidejob's queue");
  t.is((await Promise.all(ids.map(async (id) => (await json(a, id)).slurm))).filter(Boolean).length, 2);
  for (const id of ids) await a.post(`/jobs/${id}/cancel`, {});
  await waitFor(async () => (await submitted()) === 0, { message: "the submitted jobs to leave squeue", timeout: 20_000 });
});

test.serial(
  "a Slurm controller restart: a job waiting in Slurm's queue keeps its place, one submitted meanwhile waits in sidejob's queue, and both run as their first attempt",
  async (t) => {
    const dir = typesDir(t, [{ name: "steady", script: `import os\nos.write(3, b'{"result": "ran"}\\n')\n`, timeoutMs: 120_000 }]);
    const a = await slurmApp(t, "slurm-controller", { JOB_TYPES_DIR: dir, JOB_LOG_DIR: logDir(t) });
    const hog = await fillNode(t);
    const waiting = await submit(a, "steady");
    await waitFor(async () => (await json(a, waiting)).slurm?.reason === "Resources", {
      message: "the job to wait for Resources",
      timeout: 20_000,
    });
    await slurm.stopController();
    t.teardown(() => slurm.startController().catch(() => {}));
    const later = await submit(a, "steady");
    // Down for longer than two start leases (JOB_HEARTBEAT_MS 1 s) and one failed sbatch (Slurm's commands give up after about 9 s).
    const until = Date.now() + 12_000;
    const outcome = await waitFor(
      async () => {
        const [w, l] = await Promise.all([json(a, waiting), json(a, later)]);
        if (w.state !== "queued" || l.state !== "queued" || w.attempt !== 1 || l.attempt !== 1) return { w, l };
        return Date.now() > until ? "held" : null;
      },
      { message: "the controller's outage to last", timeout: 30_000 },
    );
    t.is(outcome, "held", "both jobs still wait as their first attempt");
    t.is((await json(a, later)).slurm, null, "the later job was not submitted");
    await slurm.startController();
    await slurm.command("scancel", [hog]);
    for (const id of [waiting, later]) {
      const job = await ended(a, id);
      t.is(job.state, "succeeded", JSON.stringify(job));
      t.is(job.attempt, 1);
    }
  },
);

// Jobs on Slurm (runOn: "slurm"): from a submit to the app until the job's
// runner on the compute node has marked it running (its startedAt, Redis'
// clock, this machine's), against `sbatch --wrap true` until squeue says
// it is no longer PENDING (read every 20 ms), alternating, in the same run,
// on a single-node Slurm of the bench's own (test/support/slurm.ts).
// Without Slurm's packages, or without root, the phase says so and is skipped.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Redis } from "ioredis";
import { JobStore } from "../jobs/core/store.ts";
import type { ServerProcess } from "../test/support/server.ts";
import { slurmMissing, startSlurm, type TestSlurm } from "../test/support/slurm.ts";
import { waitFor } from "../test/support/wait.ts";
import { median, sleep, type Row } from "./lib.ts";

export interface SlurmPhaseOptions {
  quick: boolean;
  tmp: string;
  client: Redis;
  log: (message: string) => void;
  /** The app as `npm start` runs it, with these settings added to the bench's. */
  startApp: (prefix: string, env: Record<string, string>) => Promise<ServerProcess>;
}

const PROGRAM = 'import os\nos.write(3, b\'{"done": 1, "total": 1}\\n\')\n';

async function submitted(app: ServerProcess): Promise<string> {
  const res = await fetch(`${app.url}/jobs/new/slurm-noop`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: "{}",
  });
  if (res.status !== 202) throw new Error(`submit: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** One job through the app: submit to running, and to its end (ms); claimed: submit to its claim (Redis' clock, createdAt to claimedAt). */
async function throughApp(
  app: ServerProcess,
  store: JobStore,
  client: Redis,
): Promise<{ toRunning: number; toEnd: number; claimed: number }> {
  const t0 = Date.now();
  const id = await submitted(app);
  const key = store.jobKeys(id)[0];
  const startedAt = await waitFor(async () => Number((await client.hget(key, "startedAt")) ?? 0) || null, {
    timeout: 60_000,
    interval: 10,
    message: "the Slurm job's runner to start",
  });
  const state = await waitFor(
    async () => {
      const s = await client.hget(key, "state");
      return s === "succeeded" || s === "failed" || s === "cancelled" ? s : null;
    },
    { timeout: 60_000, interval: 20, message: "the Slurm job to end" },
  );
  if (state !== "succeeded") throw new Error(`the Slurm job ended ${state}: ${JSON.stringify(await client.hgetall(key))}`);
  const [createdAt, claimedAt] = (await client.hmget(key, "createdAt", "claimedAt")).map(Number);
  return { toRunning: startedAt - t0, toEnd: Date.now() - t0, claimed: claimedAt! - createdAt! };
}

/** `sbatch --wrap` of a batch script that writes the time it ran (ms since epoch), until it ran (ms). */
async function bare(slurm: TestSlurm, n: number): Promise<number> {
  const stamp = path.join(slurm.dir, `ran-${n}`);
  const t0 = Date.now();
  await slurm.command("sbatch", ["--parsable", "--output=/dev/null", `--chdir=${slurm.dir}`, "--wrap", `date +%s%3N > ${stamp}`]);
  const ranAt = await waitFor(async () => Number(await fs.promises.readFile(stamp, "utf8").catch(() => "")) || null, {
    timeout: 60_000,
    interval: 10,
    message: "the bare batch script to run",
  });
  return ranAt - t0;
}

export async function slurmPhase({ quick, client, log, startApp }: SlurmPhaseOptions): Promise<Row[]> {
  const missing = slurmMissing();
  if (missing) {
    log(`slurm phase skipped: ${missing}`);
    return [];
  }
  const runs = quick ? 2 : 10;
  const slurm = await startSlurm();
  let types = "";
  try {
    // Readable by the job's user (JOB_USER), as a deployment's type folders must be: not under the bench's private temp folder.
    types = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-bench-slurm-types-"));
    fs.chmodSync(types, 0o755);
    fs.mkdirSync(path.join(types, "slurm-noop"), { mode: 0o755 });
    fs.writeFileSync(path.join(types, "slurm-noop", "program.py"), PROGRAM, { mode: 0o644 });
    fs.writeFileSync(
      path.join(types, "slurm-noop", "job.json"),
      JSON.stringify({
        name: "slurm-noop",
        title: "Nothing, on Slurm",
        description: "One message, then its end.",
        fields: [],
        runOn: "slurm",
        run: { command: ["/usr/bin/python3", "./program.py"] },
      }),
    );
    const prefix = "bench-slurm";
    const app = await startApp(prefix, {
      JOB_TYPES_DIR: types,
      SLURM_CONF: slurm.conf,
      ISOLATION_UNAVAILABLE: "unconfined",
      JOB_MEMORY_MB: "512",
    });
    const store = new JobStore(client, { prefix, ttlSucceededS: 86_400, ttlFailedS: 604_800 });
    const viaApp: number[] = [];
    const ends: number[] = [];
    const viaSbatch: number[] = [];
    const claims: number[] = [];
    for (let i = 0; i < runs; i++) {
      const job = await throughApp(app, store, client);
      viaApp.push(job.toRunning);
      ends.push(job.toEnd);
      claims.push(job.claimed);
      viaSbatch.push(await bare(slurm, i));
      await sleep(200);
    }
    const value = median(viaApp);
    const reference = median(viaSbatch);
    return [
      {
        id: "slurm-to-running",
        measure: `Slurm job: submit (POST) to running (its runner's startedAt), median of ${runs}`,
        value,
        unit: "ms",
        reference: { label: "sbatch --wrap of a script, to its first command", value: reference, unit: "ms" },
        ratio: value / reference,
        note: `single-node Slurm (batch_sched_delay=0); runs ${viaApp.join(", ")}; sbatch ${viaSbatch.join(", ")}; submit to claimed: median ${median(claims).toFixed(0)} ms; submit to succeeded: median ${median(ends).toFixed(0)} ms`,
      },
    ];
  } finally {
    await slurm.stop();
    if (types) fs.rmSync(types, { recursive: true, force: true });
  }
}

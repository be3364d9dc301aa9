// Jobs that change all the time, and pollers that check every status answer
// against what was written to Redis: how stale can an answer be? Used by the
// churn test (test/status-churn.test.ts) and the bench's freshness figure.
//
// A writer reports a new `done` for every job every intervalMs (as a job
// process does, through the store) and notes when Redis acknowledged each
// value. Pollers ask the servers for the status fragments in a loop and read
// the progress value. An answer's staleness is how long before the poll was
// sent a newer value had already been acknowledged (0 when it shows the
// latest acknowledged value). After the churn, the writer stops and the
// pollers go on for quietMs: an answer kept by mistake would then stay stale.
import http from "node:http";
import os from "node:os";
import type { JobStore } from "../../jobs/core/store.ts";
import { getWith } from "./http.ts";
import { quantile } from "./stats.ts";

export interface ChurnOptions {
  /** Server base URLs; pollers take turns. */
  urls: readonly string[];
  jobs: number;
  intervalMs: number;
  churnMs: number;
  quietMs: number;
  /** Concurrent pollers. */
  pollers: number;
}

export interface ChurnResult {
  polls: number;
  writes: number;
  /** Staleness of every answer (ms). */
  staleness: number[];
  p99: number;
  max: number;
  /**
   * For each value an answer showed first: from the change in Redis (its
   * updatedAt, Redis' clock, which the page shows to the millisecond in its
   * <time datetime>) until that answer was received (this machine's clock,
   * the same one on loopback), in ms.
   */
  shownAfter: number[];
  /** Answers that were not a 200 fragment showing a value that was written. */
  wrong: string[];
}

const LEASE_MS = 600_000;
const PROGRESS = /<progress id="job-progress" max="\d+" value="(\d+)"/;
const HEARD = /<p class="heard[^"]*">[^<]*<time datetime="([^"]+)"/;

export async function churn(store: JobStore, options: ChurnOptions): Promise<ChurnResult> {
  const ids: string[] = [];
  for (let i = 0; i < options.jobs; i++) {
    const id = await store.createClaimed(
      { type: "count", params: { start: 1, end: 1_000_000, increment: 1 }, total: 1_000_000 },
      "churn",
      LEASE_MS,
    );
    const started = await store.start(id, process.pid, os.hostname(), LEASE_MS);
    if (!started.ok) throw new Error(`job ${id} did not start: ${started.state}`);
    ids.push(id);
  }
  /** acked[job][v]: when Redis acknowledged done = v (v = 0: when the job started). */
  const acked = ids.map(() => [performance.now()]);
  let writes = 0;
  let writing = true;
  let polling = true;

  // Each job changes every intervalMs, the jobs spread over the interval (a
  // few every millisecond), whether or not earlier writes were answered (a
  // few rounds at most outstanding).
  const sent = ids.map(() => 0);
  const tickMs = Math.max(1, options.intervalMs / ids.length);
  const startedAt = performance.now();
  let due = 0;
  let nextJob = 0;
  let outstanding = 0;
  const failures: Error[] = [];
  const ticker = setInterval(() => {
    // As many writes as are due by now: timers fire late on a busy machine.
    const target = Math.floor(((performance.now() - startedAt) * ids.length) / options.intervalMs);
    for (; due < target && writing && outstanding < 5 * ids.length; due++) {
      const j = nextJob;
      nextJob = (nextJob + 1) % ids.length;
      const v = ++sent[j]!;
      outstanding++;
      store
        .report(ids[j]!, LEASE_MS, { done: v })
        .then((reply) => {
          if (reply !== "ok") throw new Error(`report of job ${ids[j]} answered ${reply}`);
          acked[j]![v] = performance.now();
          writes++;
        })
        .catch((err: unknown) => failures.push(err instanceof Error ? err : new Error(String(err))))
        .finally(() => outstanding--);
    }
    due = Math.max(due, target);
  }, tickMs);
  const writer = (async () => {
    while (writing) await new Promise((resolve) => setTimeout(resolve, tickMs));
    clearInterval(ticker);
    while (outstanding > 0) await new Promise((resolve) => setTimeout(resolve, 1));
    if (failures[0]) throw failures[0];
  })();

  const staleness: number[] = [];
  const shownAfter: number[] = [];
  /** The highest value an answer has shown, per job. */
  const seen = ids.map(() => 0);
  const wrong: string[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.pollers });
  const poller = async (n: number) => {
    for (let k = n; polling; k += options.pollers) {
      const j = k % ids.length;
      const url = `${options.urls[k % options.urls.length]}/jobs/${ids[j]}/status?shown=running`;
      const sentAt = performance.now();
      const { status, body } = await getWith(agent, url, { "HX-Request": "true" });
      const shown = Number(PROGRESS.exec(body)?.[1] ?? NaN);
      const values = acked[j]!;
      // Never a value that was not sent yet (a few rounds may be in flight).
      if (status !== 200 || !Number.isInteger(shown) || shown > sent[j]!) {
        wrong.push(`${url}: ${status} ${Number.isNaN(shown) ? body.slice(0, 200) : `shows ${shown} of ${sent[j]} sent`}`);
        continue;
      }
      const newer = values[shown + 1];
      staleness.push(newer !== undefined && newer < sentAt ? sentAt - newer : 0);
      if (shown > seen[j]!) {
        const changedAt = Date.parse(HEARD.exec(body)?.[1] ?? "");
        if (Number.isNaN(changedAt)) wrong.push(`${url}: no time of the last report in ${body.slice(0, 200)}`);
        else shownAfter.push(Math.max(0, Date.now() - changedAt));
        seen[j] = shown;
      }
    }
  };
  const polls = Promise.all(Array.from({ length: options.pollers }, (_, n) => poller(n)));
  try {
    await new Promise((resolve) => setTimeout(resolve, options.churnMs));
    writing = false;
    await writer;
    await new Promise((resolve) => setTimeout(resolve, options.quietMs));
  } finally {
    writing = false;
    polling = false;
    await Promise.allSettled([writer, polls]);
    agent.destroy();
  }
  await polls;
  return {
    polls: staleness.length + wrong.length,
    writes,
    staleness,
    p99: quantile(staleness, 0.99),
    max: staleness.reduce((m, s) => Math.max(m, s), 0),
    shownAfter,
    wrong,
  };
}

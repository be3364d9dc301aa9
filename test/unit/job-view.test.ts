// server/job-view.ts on its own: what a page shows for each state of a job
// and each reason it ended, from job records built here (no Redis, no process).
import test from "ava";
import type { JobRecord } from "../../jobs/core/store.ts";
import { EnvReader, readJobSettings } from "../../jobs/core/settings.ts";
import { formatDuration } from "../../jobs/core/format.ts";
import { jobView, ordinal, resultsTable, relativeTime, timeWords, type JobView, type ViewOptions } from "../../server/job-view.ts";
import { elapsed, keptUntil, leftAtRate, ranFor, roughLeft } from "../../server/job-times.ts";

import { JOB_TYPES } from "../../jobs/types/index.ts";

const ID = "0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);
const SETTINGS = { ...readJobSettings(new EnvReader({})), showJobInternals: false };
const INTERNALS = { ...SETTINGS, showJobInternals: true };

/** A count of 1 to 10 by 1 in the given state; everything else as a test needs it. */
function job(fields: Partial<JobRecord> & Pick<JobRecord, "state">): JobRecord {
  return {
    id: ID,
    type: "count",
    params: { start: 1, end: 10, increment: 1 },
    done: 0,
    total: 10,
    results: [],
    resultCount: fields.results?.length ?? 0,
    status: null,
    reason: null,
    user: null,
    submitter: null,
    ttlSucceededS: null,
    ttlFailedS: null,
    logTail: [],
    logCount: 0,
    logDropped: 0,
    timeoutMs: null,
    createdAt: T0,
    startedAt: null,
    finishedAt: null,
    updatedAt: T0,
    pid: null,
    host: null,
    exitCode: null,
    signal: null,
    error: null,
    detail: null,
    cancelRequestedAt: null,
    queuePosition: null,
    leaseExpiresAt: null,
    retryOf: null,
    retriedAs: null,
    uploads: [],
    attempt: 1,
    maxAttempts: 3,
    retryOn: [],
    attempts: [],
    notBefore: null,
    usage: null,
    limit: null,
    slurm: null,
    readAt: T0,
    ...fields,
  };
}

/** A job that started a second after it was created and counted 1 and 2. */
const running: Partial<JobRecord> = {
  startedAt: T0 + 1000,
  pid: 4242,
  host: "box",
  done: 2,
  results: [2],
  resultCount: 2,
  updatedAt: T0 + 3000,
  leaseExpiresAt: T0 + 9000,
  readAt: T0 + 4000,
};
const ended: Partial<JobRecord> = { ...running, results: [1, 2], finishedAt: T0 + 9000, readAt: T0 + 9000 };

const shows = test.macro({
  exec(t, record: JobRecord, expected: Partial<JobView>, options: ViewOptions = {}) {
    const view = jobView(record, { settings: SETTINGS, ...options });
    // Each field named in full (t.like would let a longer array pass).
    for (const [field, value] of Object.entries(expected)) t.deepEqual(view[field as keyof JobView], value, field);
  },
  title: (what = "") => `a job ${what}`,
});

test("waiting first in line shows its place, polls and can be cancelled", shows, job({ state: "queued", queuePosition: 0 }), {
  finished: false,
  phase: "queued",
  stateLabel: "Waiting to start",
  announcement: "Waiting to start.",
  queueText: "1st in line",
  pollUrl: `/jobs/${ID}/status?shown=queued`,
  progressText: "0 of 10 values",
  lastValue: null,
  elapsedText: null,
  estimateText: null,
  cancellable: true,
  cancelRequested: false,
  results: null,
  failure: null,
  cancelText: null,
});

test("waiting with no known place shows none", shows, job({ state: "queued", queuePosition: null }), {
  queueText: null,
  announcement: "Waiting to start.",
});

test(
  "running shows its progress, latest value, time so far and the counter's estimate, but no results yet",
  shows,
  job({ state: "running", ...running }),
  {
    finished: false,
    phase: "running",
    stateLabel: "Running",
    announcement: "Counting has started.",
    pollUrl: `/jobs/${ID}/status?shown=running`,
    done: 2,
    total: 10,
    progressText: "2 of 10 values",
    lastValue: "2",
    queueText: null,
    elapsedText: "Running for less than 10 s",
    // 8 steps left at the default COUNT_STEP_DELAY_MS of 1 s.
    estimateText: "about 8 s left",
    heard: {
      iso: "2024-01-02T03:04:08.000Z",
      exact: "03:04:08 UTC",
      quiet: false,
      givenUpAt: { iso: "2024-01-02T03:04:14.000Z", exact: "03:04:14 UTC" },
    },
    results: null,
    cancellable: true,
    failure: null,
  },
);

test(
  "running of a type whose log is public shows what the job says it is doing and the last lines of its log, with a link to all of it",
  shows,
  job({ state: "running", ...running, status: "Checked 300 of 1,000 numbers", logTail: ["a", "b"], logCount: 40, logDropped: 3 }),
  {
    statusLine: "Checked 300 of 1,000 numbers",
    log: { lines: "a\nb", shown: 2, count: 40, dropped: 3, url: `/jobs/${ID}/log` },
    pollUrl: `/jobs/${ID}/status?shown=running&log=1`,
  },
  { types: JOB_TYPES.map((t) => (t.name === "count" ? { ...t, publicLog: true } : t)) },
);

test("running of a type that does not make its log public shows no log, unless SHOW_JOB_INTERNALS does", (t) => {
  const record = job({ state: "running", ...running, logTail: ["Traceback"], logCount: 1 });
  t.is(jobView(record, { settings: SETTINGS }).log, null);
  t.is(jobView(record, { settings: SETTINGS }).pollUrl, `/jobs/${ID}/status?shown=running`);
  t.is(jobView(record, { settings: INTERNALS }).log?.lines, "Traceback");
});

test(
  "running with a cancel requested says the cancel was requested, not that it started",
  shows,
  job({ state: "running", ...running, cancelRequestedAt: T0 + 3000 }),
  {
    finished: false,
    phase: "cancelling",
    stateLabel: "Stopping",
    cancellable: true,
    cancelRequested: true,
    announcement: "Cancel requested; the count is stopping.",
    pollUrl: `/jobs/${ID}/status?shown=cancelling`,
    estimateText: null,
  },
);

test(
  "that succeeded shows its results and downloads, and stops polling",
  shows,
  job({ state: "succeeded", ...ended, done: 10, results: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], resultCount: 10 }),
  {
    finished: true,
    stateLabel: "Finished",
    announcement: "Finished: 10 values counted.",
    cancellable: false,
    failure: null,
    elapsedText: null,
    // Started at T0 + 1 s, ended at T0 + 9 s; kept the default JOB_TTL_SUCCEEDED_S (a day) from its end.
    ranFor: "8 s",
    keptUntil: { label: "Kept until", iso: "2024-01-03T03:04:14.000Z", exact: "3 Jan 2024, 03:04 UTC", relative: "in 1 day" },
    againUrl: "/count/1/10?increment=1",
  },
);

test("a finished count's results are shown with the counter's own template, numbers through one formatter", (t) => {
  const values = [-9007199254740991, 0, 9007199254740991];
  const view = jobView(job({ state: "succeeded", ...ended, total: 3, done: 3, results: values, resultCount: 3 }), { settings: SETTINGS });
  t.like(view.results, {
    template: "types/count-results",
    count: 3,
    scalar: true,
    partial: null,
    more: null,
    widthClass: "w23",
    downloads: [
      { label: "CSV", url: `/jobs/${ID}/result.csv` },
      { label: "JSON", url: `/jobs/${ID}/result.json` },
    ],
  });
  t.deepEqual(
    view.results!.items.map((i) => i.text),
    ["-9,007,199,254,740,991", "0", "9,007,199,254,740,991"],
  );
});

test("a long result list shows the first values with a link to all of them, and says when all are more than a page shows", (t) => {
  const first = Array.from({ length: 100 }, (_, i) => i);
  const view = jobView(job({ state: "succeeded", ...ended, total: 1000, done: 1000, results: first, resultCount: 1000 }), {
    settings: SETTINGS,
  });
  t.deepEqual(view.results!.more, { url: `/jobs/${ID}?all=1#results-title`, text: "Show all 1,000 values" });
  t.is(view.results!.capped, null);
  const all = jobView(job({ state: "succeeded", ...ended, total: 20_000, done: 20_000, results: first, resultCount: 20_000 }), {
    settings: SETTINGS,
    all: true,
  });
  t.is(all.results!.more, null);
  t.is(all.results!.capped, "The page shows the first 100; the downloads have all 20,000.");
});

test("results of a type without a template of its own that are records are a table, their keys as columns", (t) => {
  const view = jobView(
    job({
      state: "succeeded",
      ...ended,
      type: "primes",
      params: { n: 100 },
      total: 100,
      done: 100,
      results: [{ count: 25, largest: 97 }],
      resultCount: 1,
    }),
    { settings: SETTINGS },
  );
  t.is(view.title, "Prime numbers up to 100");
  t.is(view.description, "Finding every prime number from 2 to 100.");
  t.is(view.announcement, "Finished: 100 numbers.");
  t.is(view.againUrl, "/jobs/new/primes?n=100");
  t.like(view.results, { template: "fragments/results-list", scalar: false, summary: "1 result." });
  t.deepEqual(view.results!.table, {
    columns: ["count", "largest"],
    rows: [
      [
        { text: "25", numeric: true },
        { text: "97", numeric: true },
      ],
    ],
  });
});

test("a results table has the keys in the order first met, empty cells for missing ones, nested values as JSON; other results are no table", (t) => {
  t.deepEqual(resultsTable([{ a: 1 }, { b: "x", a: { c: [1] } }]), {
    columns: ["a", "b"],
    rows: [
      [
        { text: "1", numeric: true },
        { text: "", numeric: false },
      ],
      [
        { text: '{"c":[1]}', numeric: false },
        { text: "x", numeric: false },
      ],
    ],
  });
  t.is(resultsTable([{ a: 1 }, [1, 2]]), null, "a list among the records");
  t.is(resultsTable([1, 2]), null);
  t.is(resultsTable([]), null);
  t.is(
    resultsTable(Array.from({ length: 1 }, () => Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]))))!.columns.length,
    20,
  );
});

test(
  "that succeeded lists its output files with their sizes",
  shows,
  job({ state: "succeeded", ...ended }),
  {
    files: [
      { name: "primes.txt", url: `/jobs/${ID}/files/primes.txt`, sizeText: "5.2 MB" },
      { name: "tiny.csv", url: `/jobs/${ID}/files/tiny.csv`, sizeText: "1 byte" },
    ],
  },
  {
    files: [
      { name: "primes.txt", size: 5_200_000 },
      { name: "tiny.csv", size: 1 },
    ],
  },
);

const failed = (fields: Partial<JobRecord>) => job({ state: "failed", ...ended, ...fields });

// Every reason a job can fail for: the message says it once, in plain words;
// exit code and signal are listed apart, once each; pid, host and the
// recorded detail only for operators.
const reasons: [string, Partial<JobRecord>, string, string[]][] = [
  [
    "lost",
    { reason: "lost", error: "lost: the job's process stopped reporting" },
    "The count stopped responding after 2 of 10 values, so it was given up.",
    [],
  ],
  ["never-started", { reason: "never-started", done: 0, startedAt: null }, "The count never started, so it was given up.", []],
  [
    "timeout",
    { reason: "timeout", timeoutMs: 1500, signal: "SIGTERM" },
    "The count took longer than its time limit of 1.5 s, so it was stopped after 2 of 10 values.",
    ["Signal: SIGTERM"],
  ],
  [
    "signal",
    { reason: "signal", signal: "SIGKILL", error: "The job's process was killed by SIGKILL." },
    "The count stopped unexpectedly after 2 of 10 values.",
    ["Signal: SIGKILL"],
  ],
  [
    "exit-code",
    { reason: "exit-code", exitCode: 1, error: "The job's process exited with code 1." },
    "The count stopped unexpectedly after 2 of 10 values.",
    ["Exit code: 1"],
  ],
  [
    "no-result",
    { reason: "no-result", exitCode: 0 },
    "The count ended without saying whether it succeeded after 2 of 10 values.",
    ["Exit code: 0"],
  ],
  [
    "job-error",
    { reason: "job-error", error: "the input could not be processed" },
    "The count could not finish: the input could not be processed",
    [],
  ],
  [
    "spawn-failed",
    { reason: "spawn-failed", done: 0, startedAt: null, detail: "spawn ENOENT /usr/bin/node" },
    "The count could not be started.",
    [],
  ],
  ["no reason and no error (an older record)", { reason: null, error: null }, "The count did not finish (after 2 of 10 values).", []],
];

for (const [reason, fields, message, facts] of reasons) {
  test(`a job that failed (${reason}) says so once, in plain words, with the process facts apart`, (t) => {
    const view = jobView(failed({ detail: "Error: boom", ...fields }), { settings: SETTINGS });
    t.deepEqual(view.failure, { message, facts, detail: null });
    t.is(view.announcement, `Failed: ${message.charAt(0).toLowerCase()}${message.slice(1)}`);
    t.is(view.stateLabel, "Failed");
    t.false(view.cancellable);
    const everything = [view.failure!.message, ...view.failure!.facts].join(" ");
    for (const word of ["SIGKILL", "SIGTERM", "code 1"]) t.true(everything.split(word).length <= 2, `${word} at most once`);
  });
}

test("a job that failed shows the process and the recorded detail only with SHOW_JOB_INTERNALS", (t) => {
  const record = failed({ reason: "exit-code", exitCode: 1, detail: "Error: boom" });
  t.deepEqual(jobView(record, { settings: SETTINGS }).failure, {
    message: "The count stopped unexpectedly after 2 of 10 values.",
    facts: ["Exit code: 1"],
    detail: null,
  });
  t.deepEqual(jobView(record, { settings: INTERNALS }).failure, {
    message: "The count stopped unexpectedly after 2 of 10 values.",
    facts: ["Exit code: 1", "Process: 4242 on box"],
    detail: "Error: boom",
  });
});

test("a job that failed after some values keeps them, marked as partial", (t) => {
  const view = jobView(failed({ reason: "exit-code", exitCode: 1 }), { settings: SETTINGS });
  t.like(view.results, { count: 2, partial: "Partial: what it had made before it failed." });
});

test(
  "cancelled before it started says nothing was counted",
  shows,
  job({ state: "cancelled", reason: "cancelled", finishedAt: T0 + 500 }),
  {
    finished: true,
    stateLabel: "Cancelled",
    announcement: "Cancelled before it started; nothing was counted.",
    cancelText: "Cancelled before it started; nothing was counted.",
    cancellable: false,
    againUrl: "/count/1/10?increment=1",
    failure: null,
    results: null,
  },
);

test("a job cancelled after some values says how many of how many, and shows them as partial results", (t) => {
  const view = jobView(
    job({
      state: "cancelled",
      reason: "cancelled",
      ...ended,
      total: 1000,
      done: 3,
      results: [1, 2, 3],
      resultCount: 3,
      params: { start: 1, end: 1000, increment: 1 },
    }),
    {
      settings: SETTINGS,
    },
  );
  t.is(view.announcement, "Cancelled after 3 of 1,000 values.");
  t.is(view.cancelText, "Cancelled after 3 of 1,000 values.");
  t.like(view.results, { count: 3, partial: "Partial: 3 of 1,000 values, cancelled." });
  t.deepEqual(view.results!.values, [1, 2, 3]);
});

test(
  "cancelled and killed says it had to be stopped",
  shows,
  job({ state: "cancelled", reason: "cancel-killed", ...ended, signal: "SIGTERM" }),
  {
    cancelText: "Cancelled after 2 of 10 values. It did not stop by itself, so its process was stopped.",
  },
);

test(
  "of a type this site does not run is shown as such, without a form to start it again",
  shows,
  job({ state: "failed", reason: "unknown-type", type: "report", params: { x: 1 }, finishedAt: T0 + 10 }),
  {
    knownType: false,
    title: "A job of an unknown type",
    description: "This job's type (report) is not one this site runs.",
    againUrl: null,
    formUrl: "/",
    failure: { message: "This job's type (report) is not one this site runs, so it was not started.", facts: [], detail: null },
    announcement: "Failed: this job's type (report) is not one this site runs, so it was not started.",
  },
);

test("of an unknown type still waiting is shown too, never a crash", shows, job({ state: "queued", type: "report", params: {} }), {
  title: "A job of an unknown type",
  progressText: "0 of 10 steps",
  announcement: "Waiting to start.",
});

test(
  "with parameters that no longer fit its type falls back to the type's own title",
  shows,
  job({ state: "queued", type: "primes", params: {} }),
  {
    title: "Find prime numbers",
    description: "Lists every prime number up to a limit you choose, with a sieve of Eratosthenes, and gives you the list as a text file.",
  },
);

test("the page names the count and its size, with the date shown once and times relative to now", (t) => {
  const view = jobView(
    job({ state: "succeeded", ...ended, params: { start: -5, end: 5000, increment: 5 }, total: 1002, readAt: T0 + 3 * 60_000 }),
    { settings: SETTINGS },
  );
  t.is(view.title, "Count from -5 to 5,000");
  t.is(view.description, "Counting from -5 to 5,000 by 5.");
  t.is(view.againUrl, "/count/-5/5000?increment=5");
  t.deepEqual(view.times, [
    { label: "Submitted", iso: "2024-01-02T03:04:05.000Z", exact: "2 Jan 2024, 03:04:05 UTC", relative: "3 minutes ago" },
    { label: "Started", iso: "2024-01-02T03:04:06.000Z", exact: "03:04:06 UTC", relative: "3 minutes ago" },
    { label: "Ended", iso: "2024-01-02T03:04:14.000Z", exact: "03:04:14 UTC", relative: "3 minutes ago" },
  ]);
});

test("a running job that has missed a heartbeat says since when nothing was heard, and when it will be given up", (t) => {
  const record = job({ state: "running", ...running });
  // The default heartbeat is 1 s: just over 2 s after its last report it is a whole beat late.
  const late = jobView(record, { settings: SETTINGS, now: T0 + 5100 });
  t.deepEqual(late.heard, {
    iso: "2024-01-02T03:04:08.000Z",
    exact: "03:04:08 UTC",
    quiet: true,
    givenUpAt: { iso: "2024-01-02T03:04:14.000Z", exact: "03:04:14 UTC" },
  });
  t.false(jobView(record, { settings: SETTINGS, now: T0 + 4900 }).heard?.quiet);
});

test("the words that depend on the time now change every 10 s in a job's first minute, then at most once a minute, or when a heartbeat is overdue", (t) => {
  // Started at T0 + 1 s.
  const record = job({ state: "running", ...running, updatedAt: T0 + 60_000 });
  const at = (seconds: number) => timeWords(record, T0 + seconds * 1000, SETTINGS);
  t.is(at(32), at(40), "within one 10 s step of its running time");
  t.not(at(40), at(42), "'Running for 30 s' becomes 'Running for 40 s'");
  t.is(
    new Set(Array.from({ length: 60 }, (_, i) => at(1 + i))).size,
    6 + 2,
    "its first minute: six steps of 10 s, and the two times' 'just now' turning into '1 minute ago' (at 45 s and 46 s)",
  );
  t.is(at(61), at(62), "the same second-by-second");
  t.not(at(61), at(65), "an overdue heartbeat shows");
  // Two times shown (submitted, started) and the running time, each of whose words change once a minute at most.
  const seconds = Array.from({ length: 600 }, (_, i) => at(70 + i));
  t.true(new Set(seconds).size <= 3 * 10 + 2, `ten minutes give ${new Set(seconds).size} variants`);
  t.is(
    timeWords(job({ state: "succeeded", ...ended }), T0 + 30_000, SETTINGS),
    timeWords(job({ state: "succeeded", ...ended }), T0 + 40_000, SETTINGS),
  );
});

test("a running job's words name its time so far in steps of 10 s under a minute, then in minutes", (t) => {
  const s = 1000;
  t.deepEqual([0, 9.9 * s, 10 * s, 40 * s, 59.9 * s, 60 * s, 150 * s, 3 * 3600 * s].map(elapsed), [
    "Running for less than 10 s",
    "Running for less than 10 s",
    "Running for 10 s",
    "Running for 40 s",
    "Running for 50 s",
    "Running for 1 minute",
    "Running for 3 minutes",
    "Running for 3 hours",
  ]);
});

test("how long an ended job ran reads exactly enough to quote", (t) => {
  const s = 1000;
  t.deepEqual([400, 12.4 * s, 60 * s, 200 * s, 3599.6 * s, 7500 * s, 86_400 * s, 100_000 * s].map(ranFor), [
    "less than a second",
    "12 s",
    "1 min",
    "3 min 20 s",
    "1 h",
    "2 h 5 min",
    "1 day",
    "1 day 4 h",
  ]);
});

test("a type without its own estimate is given one from its rate, in words that do not flicker", (t) => {
  t.is(leftAtRate(0, 10, 5000), null, "no step done: no rate yet");
  t.is(leftAtRate(3, 0, 5000), null, "no total: nothing to count down");
  t.is(leftAtRate(25, 100, 10_000), 30_000, "a quarter in 10 s: 30 s more");
  t.is(leftAtRate(100, 100, 10_000), 0);
  t.deepEqual([0, 9_000, 31_000, 38_000, 54_000, 70_000, 16 * 60_000, 3 * 3_600_000, 3 * 86_400_000].map(roughLeft), [
    "a few seconds left",
    "a few seconds left",
    "about 30 s left",
    "about 40 s left",
    "about 50 s left",
    "about 1 min left",
    "about 16 min left",
    "about 3 h left",
    "about 3 days left",
  ]);
  // A primes job (no estimate of its own) a quarter of the way after 20 s of running.
  const primes = job({ state: "running", ...running, type: "primes", params: { n: 1000 }, total: 1000, done: 250, readAt: T0 + 21_000 });
  t.is(jobView(primes, { settings: SETTINGS }).estimateText, "about 1 min left");
  t.is(jobView({ ...primes, done: 0 }, { settings: SETTINGS }).estimateText, null, "nothing done yet: no guess");
  t.is(jobView({ ...primes, total: 0 }, { settings: SETTINGS }).estimateText, null, "no total: no guess");
});

test("a type's own estimate is given when the job started and the time now, and wins over the rate", (t) => {
  const seen: unknown[] = [];
  const types = JOB_TYPES.map((type) =>
    type.name === "primes"
      ? {
          ...type,
          estimateMs: (facts: { startedAt: number; now: number; done: number; total: number }) => {
            seen.push(facts);
            return facts.done < 500 ? 90_000 : null;
          },
        }
      : type,
  );
  const primes = job({ state: "running", ...running, type: "primes", params: { n: 1000 }, total: 1000, done: 250, readAt: T0 + 21_000 });
  t.is(jobView(primes, { settings: { ...SETTINGS, types } }).estimateText, "about 90 s left");
  t.like(seen[0], { startedAt: T0 + 1000, now: T0 + 21_000, done: 250, total: 1000 });
  // Half done in 20 s: 20 s more.
  t.is(jobView({ ...primes, done: 500 }, { settings: { ...SETTINGS, types } }).estimateText, "about 20 s left", "null: the rate's guess");
});

test("times are shown in the reader's zone, the date where it changes, and their datetime stays in UTC", (t) => {
  // 23:30 UTC on 1 Jan is 00:30 on 2 Jan in Paris (CET, UTC+1), and 18:30 on 1 Jan in New York.
  const late = Date.UTC(2024, 0, 1, 23, 30, 0);
  const record = job({
    state: "succeeded",
    ...ended,
    createdAt: late,
    startedAt: late + 1000,
    finishedAt: late + 61_000,
    readAt: late + 120_000,
  });
  const paris = jobView(record, { settings: SETTINGS, zone: "Europe/Paris" });
  t.deepEqual(
    paris.times.map((x) => [x.label, x.iso, x.exact]),
    [
      ["Submitted", "2024-01-01T23:30:00.000Z", "2 Jan 2024, 00:30:00 CET"],
      ["Started", "2024-01-01T23:30:01.000Z", "00:30:01 CET"],
      ["Ended", "2024-01-01T23:31:01.000Z", "00:31:01 CET"],
    ],
  );
  t.is(paris.keptUntil?.exact, "3 Jan 2024, 00:31 CET", "a day after its end");
  t.is(paris.keptUntil?.iso, "2024-01-02T23:31:01.000Z");
  t.is(paris.ranFor, "1 min");
  const newYork = jobView(record, { settings: SETTINGS, zone: "America/New_York" });
  t.is(newYork.times[0]!.exact, "1 Jan 2024, 18:30:00 GMT-5");
  t.is(jobView(record, { settings: SETTINGS }).times[0]!.exact, "1 Jan 2024, 23:30:00 UTC", "UTC by default");
  const heard = jobView(job({ state: "running", ...running }), { settings: SETTINGS, zone: "Asia/Tokyo" }).heard;
  t.deepEqual(heard, {
    iso: "2024-01-02T03:04:08.000Z",
    exact: "12:04:08 GMT+9",
    quiet: false,
    givenUpAt: { iso: "2024-01-02T03:04:14.000Z", exact: "12:04:14 GMT+9" },
  });
});

test("a failed job is kept for JOB_TTL_FAILED_S, or its type's own ttlFailedS, from its end; one that never started did not run", (t) => {
  const failed = job({ state: "failed", ...ended, reason: "job-error", error: "no" });
  t.is(jobView(failed, { settings: { ...SETTINGS, jobTtlFailedS: 3600 } }).keptUntil?.iso, "2024-01-02T04:04:14.000Z");
  const types = JOB_TYPES.map((type) => (type.name === "count" ? { ...type, ttlFailedS: 60 } : type));
  t.is(jobView(failed, { settings: { ...SETTINGS, types } }).keptUntil?.iso, "2024-01-02T03:05:14.000Z");
  const cancelled = jobView(job({ state: "cancelled", reason: "cancelled", finishedAt: T0 + 500 }), { settings: SETTINGS });
  t.is(cancelled.ranFor, null, "cancelled while it waited: it never ran");
  t.truthy(cancelled.keptUntil);
  t.is(jobView(job({ state: "running", ...running }), { settings: SETTINGS }).keptUntil, null, "not before it ends");
});

test("relative times are coarse: no text that changes every second", (t) => {
  const s = 1000;
  t.deepEqual([0, 44 * s, 60 * s, 150 * s, 3600 * s, 5 * 3600 * s, 86_400 * s, 7 * 86_400 * s].map(relativeTime), [
    "just now",
    "just now",
    "1 minute ago",
    "3 minutes ago",
    "1 hour ago",
    "5 hours ago",
    "1 day ago",
    "7 days ago",
  ]);
});

test("places in line read as ordinals, the teens included", (t) => {
  const places = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112, 1001];
  t.deepEqual(places.map(ordinal), [
    "1st",
    "2nd",
    "3rd",
    "4th",
    "11th",
    "12th",
    "13th",
    "21st",
    "22nd",
    "23rd",
    "101st",
    "111th",
    "112th",
    "1,001st",
  ]);
});

test("durations read in the largest unit that fits: days, not 168 h", (t) => {
  t.deepEqual([800, 1500, 90_000, 3_600_000, 5 * 3_600_000, 86_400_000, 36 * 3_600_000, 7 * 86_400_000].map(formatDuration), [
    "800 ms",
    "1.5 s",
    "90 s",
    "60 min",
    "5 h",
    "1 day",
    "1.5 days",
    "7 days",
  ]);
});

test("kept until: the retention the record was created with, over the type's and the settings' of this server", (t) => {
  const settings = { jobTtlSucceededS: 999, jobTtlFailedS: 9999 };
  const type = { ttlSucceededS: 99, ttlFailedS: 990 };
  t.is(keptUntil({ state: "succeeded", finishedAt: 1000, ttlSucceededS: 10, ttlFailedS: 20 }, type, settings), 11_000);
  t.is(keptUntil({ state: "cancelled", finishedAt: 1000, ttlSucceededS: 10, ttlFailedS: 20 }, type, settings), 21_000);
  t.is(
    keptUntil({ state: "succeeded", finishedAt: 1000, ttlSucceededS: null, ttlFailedS: null }, type, settings),
    100_000,
    "an older record: the type's",
  );
  t.is(keptUntil({ state: "failed", finishedAt: 1000 }, undefined, settings), 10_000_000, "no type: the settings'");
  t.is(keptUntil({ state: "running", finishedAt: null, ttlSucceededS: 10 }, type, settings), null);
});

// server/job-view.ts on its own: what a page shows for each state of a job,
// from job records built here (no Redis, no process).
import test from "ava";
import type { JobRecord } from "../jobs/store.ts";
import { jobView, ordinal, type JobView } from "../server/job-view.ts";

const ID = "0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);

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
    readAt: T0,
    ...fields,
  };
}

/** A job that started a second after it was created and counted 1 and 2. */
const running: Partial<JobRecord> = { startedAt: T0 + 1000, pid: 4242, host: "box", done: 2, results: [1, 2] };
const ended: Partial<JobRecord> = { ...running, finishedAt: T0 + 9000 };

const shows = test.macro({
  exec(t, record: JobRecord, expected: Partial<JobView>) {
    const view = jobView(record);
    // Each field named in full (t.like would let a longer array pass).
    for (const [field, value] of Object.entries(expected)) t.deepEqual(view[field as keyof JobView], value, field);
  },
  title: (what = "") => `a job ${what}`,
});

test("waiting first in line shows its place, polls and can be cancelled", shows, job({ state: "queued", queuePosition: 0 }), {
  finished: false,
  stateLabel: "Waiting to start",
  announcement: "Waiting to start.",
  queueText: "1st in line",
  pollUrl: `/jobs/${ID}/status?shown=queued`,
  progressText: "0 of 10",
  lastValue: null,
  started: null,
  cancellable: true,
  cancelRequested: false,
  results: [],
  failure: null,
  cancelText: null,
  resultSummary: null,
});

test("waiting with no known place shows none", shows, job({ state: "queued", queuePosition: null }), { queueText: null, announcement: "Waiting to start." });

test("running shows its progress, latest value and last update, but no results yet", shows, job({ state: "running", ...running, updatedAt: T0 + 2000, readAt: T0 + 4600 }), {
  finished: false,
  stateLabel: "Running",
  announcement: "Counting has started.",
  pollUrl: `/jobs/${ID}/status?shown=running`,
  done: 2,
  total: 10,
  progressText: "2 of 10",
  lastValue: 2,
  queueText: null,
  lastUpdate: "3 s ago",
  results: [],
  cancellable: true,
  failure: null,
});

test("running that reported less than half a second ago was updated just now", shows, job({ state: "running", ...running, updatedAt: T0 + 2000, readAt: T0 + 2400 }), {
  lastUpdate: "just now",
});

test("running with a cancel requested says so and can still be cancelled", shows, job({ state: "running", ...running, cancelRequestedAt: T0 + 3000 }), {
  finished: false,
  cancellable: true,
  cancelRequested: true,
  announcement: "Counting has started.",
});

test("that succeeded shows its results and a summary, and stops polling", shows, job({ state: "succeeded", ...ended, done: 10, results: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }), {
  finished: true,
  stateLabel: "Finished",
  announcement: "Finished: 10 values counted.",
  results: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  resultSummary: "10 values, from 1 to 10 by 1.",
  resultsScroll: false,
  resultWidth: "w4",
  cancellable: false,
  failure: null,
  finishedAt: { iso: "2024-01-02T03:04:14.000Z", text: "2024-01-02 03:04:14 UTC" },
});

test("that succeeded with one value says value, not values", shows, job({ state: "succeeded", ...ended, params: { start: 7, end: 7, increment: 1 }, total: 1, done: 1, results: [7] }), {
  announcement: "Finished: 1 value counted.",
  resultSummary: "1 value, from 7 to 7 by 1.",
});

test("that succeeded with many wide values scrolls them in columns wide enough", shows, job({
  state: "succeeded",
  ...ended,
  total: 11,
  done: 11,
  results: [-9007199254740991, 9007199254740991, ...Array.from({ length: 9 }, (_, i) => i)],
}), { resultsScroll: true, resultWidth: "w17" });

const failed = (fields: Partial<JobRecord>) => job({ state: "failed", ...ended, ...fields });

test("that failed with an exit code says it stopped unexpectedly, with the code and log for developers", shows, failed({ exitCode: 1, error: "The job's process exited with code 1.", detail: "Error: boom" }), {
  finished: true,
  stateLabel: "Failed",
  announcement: "Failed: the count stopped unexpectedly after 2 of 10 values.",
  failure: {
    message: "The count stopped unexpectedly after 2 of 10 values.",
    facts: ["Recorded error: The job's process exited with code 1.", "Exit code: 1", "Process: 4242 on box"],
    detail: "Error: boom",
  },
  results: [1, 2],
  cancellable: false,
});

test("killed by a signal names the signal", shows, failed({ signal: "SIGKILL", error: "The job's process was killed by SIGKILL." }), {
  announcement: "Failed: the count stopped unexpectedly after 2 of 10 values.",
  failure: {
    message: "The count stopped unexpectedly after 2 of 10 values.",
    facts: ["Recorded error: The job's process was killed by SIGKILL.", "Signal: SIGKILL", "Process: 4242 on box"],
    detail: null,
  },
});

test("lost says it stopped responding and was given up", shows, failed({ error: "lost: the job's process stopped reporting" }), {
  announcement: "Failed: the count stopped responding after 2 of 10 values, so it was given up.",
  failure: {
    message: "The count stopped responding after 2 of 10 values, so it was given up.",
    facts: ["Recorded error: lost: the job's process stopped reporting", "Process: 4242 on box"],
    detail: null,
  },
});

test("timed out says it took too long, and the limit", shows, failed({ error: "Timed out after 1.5 s." }), {
  failure: {
    message: "The count took too long and was stopped after 2 of 10 values. Timed out after 1.5 s.",
    facts: ["Process: 4242 on box"],
    detail: null,
  },
});

test("that failed with its script's own error shows that error as the reason", shows, failed({ error: "the input could not be processed" }), {
  announcement: "Failed: the count could not finish: the input could not be processed",
  failure: { message: "The count could not finish: the input could not be processed", facts: ["Process: 4242 on box"], detail: null },
});

test("that failed with nothing recorded says only that it did not finish", shows, failed({ error: null, pid: null, host: null }), {
  failure: { message: "The count did not finish (after 2 of 10 values).", facts: [], detail: null },
});

test("cancelled before it started says nothing was counted", shows, job({ state: "cancelled", finishedAt: T0 + 500 }), {
  finished: true,
  stateLabel: "Cancelled",
  announcement: "Cancelled before it started; nothing was counted.",
  cancelText: "Cancelled before it started; nothing was counted.",
  cancellable: false,
  againUrl: "/count/1/10?increment=1",
  failure: null,
  resultSummary: null,
});

test("cancelled after some values says how many of how many", shows, job({ state: "cancelled", ...ended, total: 1000, params: { start: 1, end: 1000, increment: 1 } }), {
  announcement: "Cancelled after 2 of 1,000 values.",
  cancelText: "Cancelled after 2 of 1,000 values.",
  results: [1, 2],
});

test("of another type is named by its id and type", shows, job({ state: "queued", type: "report", params: {} }), {
  title: `Job ${ID}`,
  description: "A report job.",
  againUrl: "/",
});

test("the page names the count and its size, with times in UTC", (t) => {
  const view = jobView(job({ state: "running", ...running, params: { start: -5, end: 5000, increment: 5 }, total: 1002 }));
  t.is(view.title, "Count from -5 to 5000");
  t.is(view.description, "Counting from -5 to 5000 by 5: 1,002 values.");
  t.is(view.againUrl, "/count/-5/5000?increment=5");
  t.deepEqual(view.created, { iso: "2024-01-02T03:04:05.000Z", text: "2024-01-02 03:04:05 UTC" });
  t.deepEqual(view.started, { iso: "2024-01-02T03:04:06.000Z", text: "2024-01-02 03:04:06 UTC" });
  t.is(view.finishedAt, null);
});

test("places in line read as ordinals, the teens included", (t) => {
  const places = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112];
  t.deepEqual(places.map(ordinal), ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th", "112th"]);
});

// A Node type's reports are written at most once per REPORT_INTERVAL_MS (the
// first at once), the latest counts with every result since, in order
// (jobs/runtime/reports.ts).
import test from "ava";
import { Reports, type Report } from "../../jobs/runtime/reports.ts";
import { REPORT_INTERVAL_MS, RESULTS_PER_REPORT } from "../../jobs/runtime/messages.ts";
import { waitFor } from "../support/wait.ts";

function recorder(reply: (report: Report) => Promise<void> = async () => {}) {
  const writes: Report[] = [];
  return { writes, send: (report: Report) => (writes.push(report), reply(report)) };
}

test("the first report is written at once; those within the interval after it are kept and go together with the job's end", async (t) => {
  const { writes, send } = recorder();
  const reports = new Reports(send);
  for (let i = 1; i <= 10; i++) await reports.add({ done: i, results: [i] });
  t.deepEqual(writes, [{ done: 1, total: undefined, status: undefined, results: [1] }], "the first written, the others kept");
  t.true(reports.waiting);
  t.deepEqual(await reports.take(), { done: 10, total: undefined, status: undefined, results: [2, 3, 4, 5, 6, 7, 8, 9, 10] });
  t.false(reports.waiting);
  t.is(await reports.take(), null, "taken once");
  reports.close();
});

test("a report kept is written by the interval's timer, with the latest counts and every result since", async (t) => {
  const { writes, send } = recorder();
  const reports = new Reports(send);
  await reports.add({ done: 1, total: 5, results: ["a"] });
  await reports.add({ done: 2, status: "half way", results: ["b"] });
  await reports.add({ done: 3, results: ["c"] });
  t.is(writes.length, 1, "the first written at once");
  await waitFor(() => writes.length === 2, { timeout: 10 * REPORT_INTERVAL_MS });
  t.deepEqual(writes[1], { done: 3, total: undefined, status: "half way", results: ["b", "c"] });
  reports.close();
});

test("a report due (the interval since the last write has passed) is written at once and waited for", async (t) => {
  let answered = false;
  const { writes, send } = recorder(async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    answered = true;
  });
  const reports = new Reports(send);
  await reports.add({ done: 1, results: [1] });
  t.true(answered, "add() waited for the write");
  t.is(writes.length, 1);
  reports.close();
});

test("a report with nothing in it asks at once, with what waits, and throws what the reply says", async (t) => {
  const { writes, send } = recorder(() => Promise.reject(new Error("cancelled")));
  const reports = new Reports(send);
  await reports.add({ done: 1, results: [1] }).catch(() => {});
  await reports.add({ done: 2, results: [2] }).catch(() => {});
  await t.throwsAsync(reports.add({}), { message: "cancelled" });
  t.deepEqual(writes.at(-1), { done: 2, total: undefined, status: undefined, results: [2] }, "one write, of what waited");
  reports.close();
});

test("too many results waiting make the job wait for their write", async (t) => {
  const { writes, send } = recorder();
  const reports = new Reports(send);
  await reports.add({ done: 0 });
  const many = Array.from({ length: RESULTS_PER_REPORT }, (_, i) => i);
  await reports.add({ done: many.length, results: many });
  t.is(writes.length, 2, "written at once");
  t.is(writes[1]!.results!.length, RESULTS_PER_REPORT);
  reports.close();
});

test("a write that fails in the background is thrown by the next report", async (t) => {
  let sent = 0;
  let failed: Promise<void> | null = null;
  const reports = new Reports(() => (++sent === 1 ? Promise.resolve() : (failed = Promise.reject(new Error("fenced")))));
  await reports.add({ done: 1, results: [1] });
  await reports.add({ done: 2, results: [2] });
  t.is(sent, 1, "the second kept for the interval's timer");
  await waitFor(() => failed !== null, { timeout: 10 * REPORT_INTERVAL_MS });
  await failed!.catch(() => {});
  // The background write's failure is kept once its rejection has been handled (a turn of the event loop).
  await new Promise((resolve) => setImmediate(resolve));
  await t.throwsAsync(reports.add({ done: 3 }), { message: "fenced" });
  await t.throwsAsync(reports.take(), { message: "fenced" });
  reports.close();
});

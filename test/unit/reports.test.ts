// A Node type's reports are written at most once per REPORT_INTERVAL_MS (its
// start counting as a write), the latest counts with every result since, in
// order (jobs/runtime/reports.ts).
import test from "ava";
import { Reports, type Report } from "../../jobs/runtime/reports.ts";
import { REPORT_INTERVAL_MS, RESULTS_PER_REPORT } from "../../jobs/runtime/messages.ts";
import { waitFor } from "../support/wait.ts";

function recorder(reply: (report: Report) => Promise<void> = async () => {}) {
  const writes: Report[] = [];
  return { writes, send: (report: Report) => (writes.push(report), reply(report)) };
}

test("reports within the interval after the start are kept and go together with the job's end", async (t) => {
  const { writes, send } = recorder();
  const reports = new Reports(send, Date.now());
  for (let i = 1; i <= 10; i++) await reports.add({ done: i, results: [i] });
  t.deepEqual(writes, [], "nothing written yet");
  t.deepEqual(await reports.take(), { done: 10, total: undefined, status: undefined, results: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  t.is(await reports.take(), null, "taken once");
  reports.close();
});

test("a report kept is written by the interval's timer, with the latest counts and every result since", async (t) => {
  const { writes, send } = recorder();
  const reports = new Reports(send, Date.now());
  await reports.add({ done: 1, total: 5, results: ["a"] });
  await reports.add({ done: 2, status: "half way", results: ["b"] });
  await waitFor(() => writes.length === 1, { timeout: 10 * REPORT_INTERVAL_MS });
  t.deepEqual(writes[0], { done: 2, total: 5, status: "half way", results: ["a", "b"] });
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
  const reports = new Reports(send, Date.now());
  await reports.add({ done: 1, results: [1] });
  await t.throwsAsync(reports.add({}), { message: "cancelled" });
  t.deepEqual(writes, [{ done: 1, total: undefined, status: undefined, results: [1] }], "one write, of what waited");
  reports.close();
});

test("too many results waiting make the job wait for their write", async (t) => {
  const { writes, send } = recorder();
  const reports = new Reports(send, Date.now());
  const many = Array.from({ length: RESULTS_PER_REPORT }, (_, i) => i);
  await reports.add({ done: many.length, results: many });
  t.is(writes.length, 1, "written at once");
  t.is(writes[0]!.results!.length, RESULTS_PER_REPORT);
  reports.close();
});

test("a write that fails in the background is thrown by the next report", async (t) => {
  const reports = new Reports(() => Promise.reject(new Error("fenced")), Date.now());
  await reports.add({ done: 1, results: [1] });
  await new Promise((resolve) => setTimeout(resolve, 2 * REPORT_INTERVAL_MS));
  await t.throwsAsync(reports.add({ done: 2 }), { message: "fenced" });
  await t.throwsAsync(reports.take(), { message: "fenced" });
  reports.close();
});

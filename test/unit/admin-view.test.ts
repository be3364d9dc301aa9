// The operator pages' pure parts: the charts' SVG and tables, percentiles
// from duration buckets, and the jobs list's filters read from a query.
import test from "ava";
import { barChart } from "../../server/admin/charts.ts";
import { charts, filterQuery, histogramQuantile, parseFilters } from "../../server/admin/view.ts";
import { JOB_TYPES } from "../../jobs/types/index.ts";

test("a percentile from duration buckets is the upper bound of the bucket it falls in", (t) => {
  const buckets = new Map([
    [4, 50],
    [8, 45],
    [40, 5],
  ]);
  t.is(histogramQuantile(buckets, 0.5), 2);
  t.is(histogramQuantile(buckets, 0.95), 4);
  t.is(histogramQuantile(buckets, 0.99), 1024);
  t.is(histogramQuantile(new Map(), 0.5), null);
});

test("a bar chart is an SVG with a role, a title and escaped text, and one bar per value above zero", (t) => {
  const chart = barChart({
    id: "c",
    title: "A <b> chart",
    summary: "s",
    labels: ["a", "b", "c"],
    stacked: true,
    unit: "jobs",
    series: [
      { label: "ok", className: "bar-ok", values: [1, 0, 3] },
      { label: "bad", className: "bar-bad", values: [2, null, 0] },
    ],
    table: { heading: "x", columns: [], rows: [] },
  });
  t.regex(chart.svg, /^<svg class="chart-svg" viewBox="0 0 600 160" role="img" aria-labelledby="c-title"/);
  t.regex(chart.svg, /<title id="c-svg-title">A &#60;b&#62; chart<\/title>/);
  t.is(chart.svg.match(/<rect /g)?.length, 3);
  t.notRegex(chart.svg, /style=|<script/);
});

test("the overview's charts carry their figures as table rows", (t) => {
  const minute = 29_000_000 * 60_000;
  const [ended, durations, queue] = charts({
    ended: [{ minute, succeeded: 3, failed: 1, cancelled: 0, lost: 0 }],
    durations: { count: new Map([[8, 2]]) },
    queue: [
      { minute, length: 4 },
      { minute: minute + 60_000, length: null },
    ],
  });
  t.deepEqual(ended!.table.rows, [{ label: new Date(minute).toISOString().slice(11, 16), cells: ["3", "1"] }]);
  t.deepEqual(durations!.table.rows, [{ label: "count", cells: ["4 ms", "4 ms"] }]);
  t.is(queue!.table.rows.length, 1, "a minute without a sample is left out");
});

test("the list's filters go back into the same query string", (t) => {
  const query = {
    state: "failed",
    type: "count",
    from: "2026-11-27T10:00",
    id: "ab",
    param: "x y",
    limit: "20",
    after: `1790000000000.${"a".repeat(32)}`,
  };
  const { filters, list } = parseFilters(query, JOB_TYPES);
  t.is(filters.limit, 20);
  t.deepEqual(list.types, ["count"]);
  t.deepEqual(list.states, ["failed"]);
  t.is(list.from, Date.parse("2026-11-27T10:00Z"));
  t.is(list.idPrefix, "ab");
  t.is(filterQuery(filters, filters.after), `?${new URLSearchParams(query).toString()}`);
  t.is(filterQuery(parseFilters({}, JOB_TYPES).filters, null), "");
});

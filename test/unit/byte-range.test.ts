// The Range header as downloads read it (server/byte-range.ts): one range of
// bytes against a body's size, what none of it holds, and what is ignored
// (the whole body is sent then).
import test from "ava";
import fc from "fast-check";
import { parseRange } from "../../server/byte-range.ts";

test("one range in each of its three forms is the bytes it names, cut at the body's end", (t) => {
  t.deepEqual(parseRange("bytes=0-9", 100), { start: 0, end: 9 });
  t.deepEqual(parseRange("bytes=90-", 100), { start: 90, end: 99 });
  t.deepEqual(parseRange("bytes=-10", 100), { start: 90, end: 99 });
  t.deepEqual(parseRange("bytes=-1000", 100), { start: 0, end: 99 }, "a suffix longer than the body is all of it");
  t.deepEqual(parseRange("bytes=95-1000", 100), { start: 95, end: 99 });
  t.deepEqual(parseRange("Bytes= 5-5 ", 100), { start: 5, end: 5 }, "the unit in any case, spaces around the range");
});

test("a range that starts past the end, a zero suffix, or any range of an empty body is unsatisfiable", (t) => {
  t.is(parseRange("bytes=100-", 100), "unsatisfiable");
  t.is(parseRange("bytes=100-200", 100), "unsatisfiable");
  t.is(parseRange("bytes=-0", 100), "unsatisfiable");
  t.is(parseRange("bytes=0-", 0), "unsatisfiable");
  t.is(parseRange("bytes=-5", 0), "unsatisfiable");
});

test("several ranges, another unit, a reversed or malformed range are ignored (null: the whole body)", (t) => {
  for (const header of [
    "bytes=0-1,3-4",
    "items=0-1",
    "bytes=5-2",
    "bytes=-",
    "bytes=a-b",
    "bytes=1.5-2",
    "bytes 0-1",
    "bytes=99999999999999999999-",
    "",
  ]) {
    t.is(parseRange(header, 100), null, header);
  }
});

test("any satisfiable a-b range lies within the body and starts at a", (t) => {
  fc.assert(
    fc.property(fc.nat(10_000), fc.nat(10_000), fc.nat(10_000), (size, a, len) => {
      const range = parseRange(`bytes=${a}-${a + len}`, size);
      if (a >= size) return range === "unsatisfiable";
      return range !== null && range !== "unsatisfiable" && range.start === a && range.end === Math.min(a + len, size - 1);
    }),
  );
  t.pass();
});

// jobs/counting.ts on its own: which inputs make a count, the message for each
// that does not, and the values a count gives.
import test from "ava";
import { checkCount, countValues, type CountInput, type CountParams } from "../../jobs/types/counting.ts";

const MAX = Number.MAX_SAFE_INTEGER;
const MIN = Number.MIN_SAFE_INTEGER;
const MAX_STEPS = 1000;

const accepted = test.macro({
  exec(t, input: CountInput, params: CountParams, total: number, maxSteps: number = MAX_STEPS) {
    t.deepEqual(checkCount(input, maxSteps), { ok: true, params, total });
  },
  title: (what = "") => `${what} is a count`,
});

test("1 to 10 by 1", accepted, { start: "1", end: "10", increment: "1" }, { start: 1, end: 10, increment: 1 }, 10);
test(
  "counting down with a negative increment",
  accepted,
  { start: "5", end: "1", increment: "-1" },
  { start: 5, end: 1, increment: -1 },
  5,
);
test("an increment that overshoots the end", accepted, { start: "1", end: "10", increment: "4" }, { start: 1, end: 10, increment: 4 }, 3);
test(
  "start equal to end, by a positive increment",
  accepted,
  { start: "7", end: "7", increment: "3" },
  { start: 7, end: 7, increment: 3 },
  1,
);
test(
  "start equal to end, by a negative increment",
  accepted,
  { start: "7", end: "7", increment: "-3" },
  { start: 7, end: 7, increment: -3 },
  1,
);
test("numbers with spaces around them", accepted, { start: " 1", end: "10 ", increment: "\t2\n" }, { start: 1, end: 10, increment: 2 }, 5);
test(
  "an explicit plus sign and leading zeros",
  accepted,
  { start: "+1", end: "010", increment: "+03" },
  { start: 1, end: 10, increment: 3 },
  4,
);
test("minus zero", accepted, { start: "-0", end: "2", increment: "1" }, { start: 0, end: 2, increment: 1 }, 3);
test(
  "the whole safe range in three steps",
  accepted,
  { start: String(MIN), end: String(MAX), increment: String(MAX) },
  { start: MIN, end: MAX, increment: MAX },
  3,
);
test(
  "the whole safe range downwards in three steps",
  accepted,
  { start: String(MAX), end: String(MIN), increment: String(MIN) },
  { start: MAX, end: MIN, increment: MIN },
  3,
);
test(
  "an increment whose next value would pass the safe range",
  accepted,
  { start: String(MAX - 1), end: String(MAX), increment: String(MAX) },
  { start: MAX - 1, end: MAX, increment: MAX },
  1,
);
test(
  "a total of exactly the most steps",
  accepted,
  { start: "1", end: "1000", increment: "1" },
  { start: 1, end: 1000, increment: 1 },
  1000,
);
test(
  "the whole safe range with the most steps set to its total",
  accepted,
  { start: String(MIN), end: String(MAX), increment: String(MAX) },
  { start: MIN, end: MAX, increment: MAX },
  3,
  3,
);

const refused = test.macro({
  exec(t, input: CountInput, errors: Record<string, string>, maxSteps: number = MAX_STEPS) {
    const check = checkCount(input, maxSteps);
    t.false(check.ok);
    if (!check.ok) t.deepEqual(check.errors, errors);
  },
  title: (what = "") => `${what} is refused with a message for the field`,
});

const WHOLE = (label: string) => `${label} must be a whole number, like 1 or -5`;
const RANGE = (label: string) => `${label} must be between ${MIN} and ${MAX}`;

test("letters", refused, { start: "abc", end: "10", increment: "1" }, { start: WHOLE("Start") });
test("an exponent", refused, { start: "1e2", end: "1000", increment: "1" }, { start: WHOLE("Start") });
test("a decimal point, even .0", refused, { start: "1", end: "10.0", increment: "1" }, { end: WHOLE("End") });
test("a fraction", refused, { start: "1", end: "10", increment: "0.5" }, { increment: WHOLE("Increment") });
test("a hex number", refused, { start: "0x10", end: "20", increment: "1" }, { start: WHOLE("Start") });
test("a space inside a number", refused, { start: "1 0", end: "20", increment: "1" }, { start: WHOLE("Start") });
test("a sign alone", refused, { start: "-", end: "20", increment: "1" }, { start: WHOLE("Start") });
test("markup", refused, { start: "<script>alert(1)</script>", end: "10", increment: "1" }, { start: WHOLE("Start") });
test("an empty field", refused, { start: "1", end: "", increment: "1" }, { end: "Enter a whole number for end" });
test("a field of white space", refused, { start: "1", end: "  \t", increment: "1" }, { end: "Enter a whole number for end" });
test("a missing field", refused, { start: "1", end: "10" }, { increment: "Enter a whole number for increment" });
test("a null field", refused, { start: null, end: "10", increment: "1" }, { start: "Enter a whole number for start" });
test("a repeated field", refused, { start: ["1", "2"], end: "10", increment: "1" }, { start: "Start must be a single whole number" });
test("a number instead of text", refused, { start: 1, end: "10", increment: "1" }, { start: "Start must be a single whole number" });
test("one above the safe range", refused, { start: "1", end: String(MAX + 1), increment: "1" }, { end: RANGE("End") });
test("one below the safe range", refused, { start: "-9007199254740992", end: "1", increment: "1" }, { start: RANGE("Start") });
test("a number of 400 digits", refused, { start: "1", end: "1" + "0".repeat(400), increment: "1" }, { end: RANGE("End") });
test(
  "an increment above the safe range",
  refused,
  { start: "1", end: "10", increment: "9007199254740992" },
  { increment: RANGE("Increment") },
);
test("an increment of 0", refused, { start: "1", end: "10", increment: "0" }, { increment: "Increment must not be 0" });
test("an increment of -0", refused, { start: "1", end: "10", increment: "-0" }, { increment: "Increment must not be 0" });
test(
  "an increment of 0 next to another bad field",
  refused,
  { start: "x", end: "10", increment: "0" },
  { start: WHOLE("Start"), increment: "Increment must not be 0" },
);
test(
  "a negative increment counting up",
  refused,
  { start: "1", end: "10", increment: "-1" },
  { increment: "Increment must be positive to count up from start to end" },
);
test(
  "a positive increment counting down",
  refused,
  { start: "10", end: "1", increment: "2" },
  { increment: "Increment must be negative to count down from start to end" },
);
test(
  "one step more than the most",
  refused,
  { start: "1", end: "1001", increment: "1" },
  {
    increment: "This would count 1001 values; the most is 1000. Use a larger increment or a shorter range",
  },
);
test(
  "the whole safe range by 1, counted exactly",
  refused,
  { start: String(MIN), end: String(MAX), increment: "1" },
  {
    increment: "This would count 18014398509481983 values; the most is 1000. Use a larger increment or a shorter range",
  },
);
test(
  "the whole safe range in three steps when the most is two",
  refused,
  { start: String(MIN), end: String(MAX), increment: String(MAX) },
  {
    increment: "This would count 3 values; the most is 2. Use a larger increment or a shorter range",
  },
  2,
);
test(
  "three bad fields at once",
  refused,
  { start: "a", end: "b", increment: "c" },
  { start: WHOLE("Start"), end: WHOLE("End"), increment: WHOLE("Increment") },
);

test("a refused form keeps what was typed, to show it again", (t) => {
  const check = checkCount({ start: " 1e2 ", end: "", increment: ["1", "2"] }, MAX_STEPS);
  t.like(check, { ok: false, values: { start: " 1e2 ", end: "", increment: "1,2" } });
});

const values = test.macro({
  exec(t, params: CountParams, expected: number[]) {
    const got = [...countValues(params)];
    t.deepEqual(got, expected);
    t.true(got.every(Number.isSafeInteger), "every value is a safe integer");
  },
  title: (what = "") => `the values of ${what}`,
});

test("1 to 10 by 3 stop before passing the end", values, { start: 1, end: 10, increment: 3 }, [1, 4, 7, 10]);
test("1 to 10 by 4", values, { start: 1, end: 10, increment: 4 }, [1, 5, 9]);
test("5 down to 1", values, { start: 5, end: 1, increment: -1 }, [5, 4, 3, 2, 1]);
test("7 to 7", values, { start: 7, end: 7, increment: 1 }, [7]);
test("the whole safe range in three steps", values, { start: MIN, end: MAX, increment: MAX }, [MIN, 0, MAX]);
test("the whole safe range downwards", values, { start: MAX, end: MIN, increment: MIN }, [MAX, 0, MIN]);
test("a step that would overflow after the last value", values, { start: MAX - 1, end: MAX, increment: MAX }, [MAX - 1]);
test("steps near the top of the safe range, exactly", values, { start: MAX - 4, end: MAX, increment: 2 }, [MAX - 4, MAX - 2, MAX]);

test("the number of values is the total checkCount gives", (t) => {
  for (const input of [
    { start: "1", end: "1000", increment: "7" },
    { start: "-50", end: "50", increment: "3" },
    { start: String(MAX), end: String(MIN), increment: "-18032430940422" },
  ]) {
    const check = checkCount(input, MAX_STEPS);
    if (!check.ok) return t.fail(JSON.stringify(check.errors));
    t.is([...countValues(check.params)].length, check.total, JSON.stringify(input));
  }
});

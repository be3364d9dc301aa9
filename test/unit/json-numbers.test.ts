// One rule for form and JSON: a JSON number is read as its decimal text, then
// checked as the form's text is. JSON cannot tell 1e2 from 100 once parsed.
import test from "ava";
import { checkFields, type Field } from "../../jobs/core/fields.ts";

const FIELDS: Field[] = [{ name: "n", kind: "integer", label: "N", min: -100, max: 2 ** 53 - 1 }];

const same = test.macro({
  exec(t, json: unknown, form: string, accepted: boolean) {
    const fromJson = checkFields(FIELDS, { n: json });
    const fromForm = checkFields(FIELDS, { n: form });
    t.is(fromJson.ok, accepted);
    t.deepEqual(fromJson, fromForm);
  },
  title: (_what, json: unknown, form: string, accepted: boolean) =>
    `the JSON number ${String(json)} is ${accepted ? "accepted" : "refused"}, as the form's ${JSON.stringify(form)} is`,
});

test(same, 100, "100", true);
test(same, -5, "-5", true);
test(same, 1.5, "1.5", false);
test(same, 2 ** 53, "9007199254740992", false);
test(same, 2 ** 60, "1152921504606846976", false);
test(same, 1e21, "1000000000000000000000", false);
test(same, 1e-7, "0.0000001", false);

test('JSON 1e2 and 1.0 are the numbers 100 and 1 once parsed, so they are accepted; the strings "1e2" and "1.0" are refused as in the form', (t) => {
  t.true(checkFields(FIELDS, JSON.parse('{"n": 1e2}') as Record<string, unknown>).ok);
  t.true(checkFields(FIELDS, JSON.parse('{"n": 1.0}') as Record<string, unknown>).ok);
  t.false(checkFields(FIELDS, { n: "1e2" }).ok);
  t.false(checkFields(FIELDS, { n: "1.0" }).ok);
});

test("a number field takes scientific notation, from a form and from JSON, and keeps its range", (t) => {
  const fields: Field[] = [{ name: "p", kind: "number", label: "P value", min: 0, max: 1 }];
  t.deepEqual(checkFields(fields, { p: "5e-8" }), { ok: true, params: { p: 5e-8 } });
  t.deepEqual(checkFields(fields, { p: " 2.5E-3 " }), { ok: true, params: { p: 0.0025 } });
  t.deepEqual(checkFields(fields, JSON.parse('{"p": 5e-8}') as Record<string, unknown>), { ok: true, params: { p: 5e-8 } });
  t.deepEqual(checkFields(fields, { p: 1e-25 }), { ok: true, params: { p: 1e-25 } }, "a JSON number too small for plain decimals");
  t.like(checkFields(fields, { p: "5e3" }), { ok: false, errors: { p: "P value must be between 0 and 1" } });
  t.like(checkFields(fields, { p: "1e400" }), { ok: false, errors: { p: "P value must be a number, like 2.5 or 5e-8" } });
  t.like(checkFields(fields, { p: "5e" }), { ok: false, errors: { p: "P value must be a number, like 2.5 or 5e-8" } });
});

// A CSV output file is neutralised a chunk at a time as it is downloaded
// (server/csv.ts, CsvNeutraliser): whatever the chunks, what it gives is what
// the rule gives for the whole file at once (neutralisedCsv).
import test from "ava";
import fc from "fast-check";
import { CsvNeutraliser, neutralisedCsv } from "../../server/csv.ts";

/** Pieces of CSV that meet every case of the rule: formula starts, numbers, quotes and "" in them, CR, LF, CRLF, long cells. */
const PIECES = [..."=+-@\t\r\n,\"'a1.e5 ", "x".repeat(70), "=".repeat(66), "-1.5", "+2e3", '""', "\r\n"];

function inChunks(whole: Buffer, cuts: number[]): Buffer {
  const neutraliser = new CsvNeutraliser();
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of cuts) {
    const to = Math.min(whole.length, at + cut);
    out.push(neutraliser.push(whole.subarray(at, to)));
    at = to;
  }
  out.push(neutraliser.push(whole.subarray(at)), neutraliser.end());
  return Buffer.concat(out);
}

test("neutralised in chunks cut anywhere, a CSV file is what neutralisedCsv makes of it whole", (t) => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 80 }), fc.array(fc.nat(90), { maxLength: 6 }), (pieces, cuts) => {
      const whole = Buffer.from(pieces.join(""));
      t.deepEqual(inChunks(whole, cuts).toString("latin1"), neutralisedCsv(whole).toString("latin1"));
    }),
    { numRuns: 5000 },
  );
});

test("examples: a formula cell gets its ', a number and a quoted formula too, byte by byte", (t) => {
  const file = Buffer.from('a,=1+1\r\n-5,"@SUM(A1)",+x\n"=""q""",ok');
  const oneByOne = inChunks(
    file,
    Array.from({ length: file.length }, () => 1),
  );
  t.is(oneByOne.toString(), 'a,\'=1+1\r\n-5,"\'@SUM(A1)",\'+x\n"\'=""q""",ok');
});

// The CSV checker (jobs/types/csv_check.py) on its own: run as a real
// python3 process the way the runner runs it (parameters on stdin, the file in
// SIDEJOB_INPUT_FILE, messages on fd 3, files in SIDEJOB_OUTPUT_DIR), on small
// files made for each edge case.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { fileURLToPath } from "node:url";
import { findRoot, jobTypesDir } from "../../jobs/core/paths.ts";
import { MESSAGE_MAX_BYTES } from "../../jobs/runtime/messages.ts";

const PROGRAM = path.join(jobTypesDir(findRoot(path.dirname(fileURLToPath(import.meta.url)))), "csv_check.py");

interface Problem {
  line: number;
  column: number | null;
  name: string | null;
  kind: string;
  severity: string;
  message: string;
  value?: string;
}
interface ColumnReport {
  index: number;
  name: string;
  type: string;
  filled: number;
  empty: number;
  notFitting: number;
  notFittingLines: number[];
  min?: number;
  max?: number;
  mean?: number;
}
interface Checked {
  code: number | null;
  lines: string[];
  messages: Record<string, unknown>[];
  error: string | null;
  summary: Record<string, unknown>;
  columns: ColumnReport[];
  problems: Problem[];
  problemsCsv: string;
  report: { summary: Record<string, unknown>; columns: ColumnReport[]; problems: Problem[] } | null;
}

/** Runs the checker on `content` with the given parameters. */
async function check(content: string | Buffer, params: Record<string, unknown> = {}): Promise<Checked> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-csv-test-"));
  try {
    const input = path.join(dir, "input");
    const output = path.join(dir, "output");
    fs.mkdirSync(output);
    fs.writeFileSync(input, content);
    const child = spawn("python3", [PROGRAM], {
      cwd: dir,
      env: { PATH: process.env.PATH, SIDEJOB_INPUT_FILE: input, SIDEJOB_OUTPUT_DIR: output, SIDEJOB_FD: "3" },
      stdio: ["pipe", "pipe", "pipe", "pipe"],
    });
    child.stdin.end(`${JSON.stringify({ delimiter: "detect", header: true, ...params })}\n`);
    const chunks: Buffer[] = [];
    (child.stdio[3] as NodeJS.ReadableStream).on("data", (c: Buffer) => chunks.push(c));
    child.stdout.resume();
    child.stderr.resume();
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    const lines = Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean);
    const messages = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const results = messages.filter((m) => "result" in m).map((m) => m.result as Record<string, unknown>);
    const read = (name: string) => (fs.existsSync(path.join(output, name)) ? fs.readFileSync(path.join(output, name), "utf8") : null);
    const report = read("report.json");
    return {
      code,
      lines,
      messages,
      error: (messages.find((m) => "error" in m)?.error as string | undefined) ?? null,
      summary: (results.find((r) => r.part === "summary")?.summary as Record<string, unknown> | undefined) ?? {},
      columns: results.filter((r) => r.part === "columns").flatMap((r) => r.columns as ColumnReport[]),
      problems: results.filter((r) => r.part === "problems").flatMap((r) => r.problems as Problem[]),
      problemsCsv: read("problems.csv") ?? "",
      report: report === null ? null : (JSON.parse(report) as Checked["report"]),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const brief = (problems: Problem[]) => problems.map((p) => `${p.kind}@${p.line}${p.column === null ? "" : `:${p.column}`}`);

test("a clean file with a BOM and CRLF line endings: the BOM is not part of the first name, and nothing is wrong", async (t) => {
  const r = await check("\uFEFFid,name\r\n1,Ann\r\n2,Bob\r\n");
  t.is(r.code, 0, r.lines.join("\n"));
  t.is(r.summary.encoding, "UTF-8 with BOM");
  t.is(r.summary.lineEndings, "CRLF (Windows)");
  t.is(r.summary.rows, 2);
  t.is(r.summary.columns, 2);
  t.is(r.summary.delimiter, "comma");
  t.is(r.summary.problemCount, 0);
  t.deepEqual(
    r.columns.map((c) => [c.name, c.type]),
    [
      ["id", "integer"],
      ["name", "text"],
    ],
  );
  t.deepEqual(r.problems, []);
  t.is(r.problemsCsv, "line,column,column name,severity,problem,value\r\n");
});

test("quoted newlines inside cells keep one row, and the lines after them are numbered as an editor shows them", async (t) => {
  const r = await check('id,note\n1,"two\nlines"\n2,"three\r\nmore\nlines"\nx,ok\n');
  t.is(r.code, 0);
  t.is(r.summary.rows, 3);
  t.is(r.summary.lines, 7);
  t.deepEqual(brief(r.problems), ["type@7:1"], "the cell x is on line 7");
  t.deepEqual(r.columns[0]!.notFittingLines, [7]);
});

test("a file with only a header has its columns and no rows", async (t) => {
  const r = await check("a,b,c\n");
  t.is(r.code, 0);
  t.is(r.summary.rows, 0);
  t.deepEqual(
    r.columns.map((c) => c.type),
    ["empty", "empty", "empty"],
  );
  t.deepEqual(r.problems, []);
});

test("rows with more or fewer fields than the header are errors with their lines, and their cells are left out of the columns", async (t) => {
  const r = await check("a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n");
  t.deepEqual(brief(r.problems), ["field-count@3", "field-count@4"]);
  t.is(r.problems[0]!.message, "2 fields, fewer than the header (3)");
  t.is(r.problems[1]!.message, "4 fields, more than the header (3)");
  t.is(r.summary.rows, 4);
  t.is(r.columns[0]!.filled, 2);
});

test("without a header row, the first row sets the width and the columns are numbered", async (t) => {
  const r = await check("1,2\n3\n", { header: false });
  t.deepEqual(
    r.columns.map((c) => c.name),
    ["Column 1", "Column 2"],
  );
  t.is(r.summary.rows, 2);
  t.deepEqual(brief(r.problems), ["field-count@2"]);
  t.is(r.problems[0]!.message, "1 field, fewer than the first row (2)");
});

test("duplicate and empty header names are errors on line 1 with their column", async (t) => {
  const r = await check("id,Name,name,,id\n1,a,b,c,2\n");
  t.deepEqual(brief(r.problems), ["header@1:3", "header@1:4", "header@1:5"]);
  t.is(r.problems[0]!.message, "Header name used again (first in column 2)");
  t.is(r.problems[1]!.message, "Empty header name");
});

test("bytes that are not UTF-8 are an error on their line, shown as the replacement character", async (t) => {
  const r = await check(
    Buffer.concat([
      Buffer.from("a,b\n1,caf"),
      Buffer.from([0xe9]),
      Buffer.from("\n2,ok\n3,\xff\n".replace("\xff", "")),
      Buffer.from([0xff, 0x0a]),
    ]),
  );
  t.is(r.code, 0);
  t.is(r.summary.notUtf8Lines, 2);
  const bad = r.problems.filter((p) => p.kind === "not-utf8");
  t.deepEqual(
    bad.map((p) => p.line),
    [2, 5],
  );
  t.is(bad[0]!.value, "1,caf\uFFFD");
  t.true(r.problemsCsv.includes("1,caf\uFFFD"));
});

test("an unclosed quote is reported at the row that opens it; in the first row the file cannot be read and the check fails with a plain message", async (t) => {
  const r = await check('a,b\n1,2\n3,"never closed\n4,5\n');
  t.is(r.code, 0);
  t.deepEqual(brief(r.problems), ["unclosed-quote@3"]);
  t.is(r.summary.rows, 1);

  const first = await check('"a,b\n1,2\n');
  t.is(first.code, 1);
  t.is(first.error, "The quote opened on line 1 is never closed, so no row could be read.");
  t.deepEqual(first.summary, {});
});

test("a quote in the middle of a cell is an error, and the rows after it are still read", async (t) => {
  const r = await check('a,b\n1,"x"y\n2,3\n');
  t.deepEqual(brief(r.problems), ["stray-quote@2"]);
  t.is(r.columns[0]!.filled, 1);
});

test("column types are inferred from their values, with min, max and mean for numbers and the lines of cells that do not fit", async (t) => {
  const rows = ["id,price,day,city,blank"];
  for (let i = 1; i <= 20; i++) rows.push(`${i},${(i * 1.5).toFixed(2)},2024-03-${String(i).padStart(2, "0")},Town ${i},`);
  rows.push("n/a,free,someday,Last,");
  const r = await check(`${rows.join("\n")}\n`);
  const byName = Object.fromEntries(r.columns.map((c) => [c.name, c]));
  t.is(byName.id!.type, "integer");
  t.is(byName.price!.type, "decimal");
  t.is(byName.day!.type, "date");
  t.is(byName.city!.type, "text");
  t.is(byName.blank!.type, "empty");
  t.is(byName.blank!.empty, 21);
  t.like(byName.id, { min: 1, max: 20, mean: 10.5, notFitting: 1, notFittingLines: [22] });
  t.like(byName.price, { min: 1.5, max: 30, mean: 15.75 });
  t.is(byName.day!.notFitting, 1);
  t.is(byName.city!.notFitting, 0, "text takes anything");
  t.deepEqual(brief(r.problems), ["type@22:1", "type@22:2", "type@22:3"]);
  t.is(r.problems[0]!.message, "Not a whole number, in a column of integers");
  t.is(r.problems[1]!.message, "Not a number, in a column of decimals");
  t.is(r.problems[2]!.message, "Not a date, in a column of dates");
});

test("with semicolons, a decimal comma is a number", async (t) => {
  const r = await check("a;b\n1,5;x\n2,25;y\n");
  t.is(r.summary.delimiter, "semicolon");
  t.like(r.columns[0], { type: "decimal", min: 1.5, max: 2.25 });
});

test("a chosen delimiter is used as given, and detection finds tabs", async (t) => {
  const tsv = "a\tb\n1\t2\n";
  const detected = await check(tsv);
  t.is(detected.summary.delimiter, "tab");
  t.is(detected.summary.columns, 2);
  const forced = await check(tsv, { delimiter: "comma" });
  t.is(forced.summary.delimiter, "comma");
  t.is(forced.summary.columns, 1);
  t.false(forced.summary.delimiterDetected);
});

test("leading or trailing spaces and blank lines are reported, worst first and then by line", async (t) => {
  const r = await check("a,b\n1, x\n\n2,y \n3,z,extra\n");
  t.deepEqual(brief(r.problems), ["field-count@5", "spaces@2:2", "spaces@4:2", "blank-line@3"]);
  t.is(r.summary.blankLines, 1);
  t.deepEqual(r.problems[0]!.severity, "error");
  t.deepEqual(r.problems.at(-1)!.severity, "notice");
});

test("the problems CSV neutralises cells a spreadsheet would run as formulas", async (t) => {
  const numbers = Array.from({ length: 10 }, (_, i) => `${i},a,b\n`).join("");
  const r = await check(`n,=cmd,=cmd\n${numbers}=HYPERLINK("http://x"),a,b\n+1+1,a,b\n@SUM(A1),a,b\n-,a,b\n`);
  const rows = r.problemsCsv.trim().split("\r\n").slice(1);
  t.true(
    rows.some((row) => row.startsWith(`1,3,'=cmd,error,`)),
    rows.join("\n"),
  );
  t.true(
    rows.some((row) => row.endsWith(`,"'=HYPERLINK(""http://x"")"`)),
    rows.join("\n"),
  );
  t.true(rows.some((row) => row.endsWith(",'+1+1")));
  t.true(rows.some((row) => row.endsWith(",'@SUM(A1)")));
  t.true(rows.some((row) => row.endsWith(",'-")));
  t.false(
    rows.some((row) => /(^|,)[=+@-]/.test(row)),
    "no cell starts with a formula character",
  );
  // The JSON report keeps the values as they are.
  t.true(r.report!.problems.some((p) => p.value === "+1+1"));
});

test("the first 1,000 problems are in the results and every one is in the files, worst first", async (t) => {
  const rows = ["a,b"];
  for (let i = 0; i < 1200; i++) rows.push(i % 2 === 0 ? `${i}, spaced` : `${i},1,2`);
  const r = await check(`${rows.join("\n")}\n`);
  t.is(r.summary.problemCount, 1200);
  t.is(r.summary.problemsShown, 1000);
  t.is(r.problems.length, 1000);
  t.deepEqual(r.summary.problemCounts, { "field-count": 600, spaces: 600 });
  t.is(r.problems[599]!.kind, "field-count");
  t.is(r.problems[600]!.kind, "spaces");
  t.is(r.problemsCsv.trim().split("\r\n").length, 1201);
  t.is(r.report!.problems.length, 1200);
  t.deepEqual(r.report!.summary, r.summary);
  for (const line of r.lines) t.true(Buffer.byteLength(line) < MESSAGE_MAX_BYTES, "each message fits on one fd 3 line");
});

test("progress comes a few times a second at most, with a status line in rows", async (t) => {
  const rows = ["id,value,when"];
  for (let i = 0; i < 300_000; i++) rows.push(`${i},${i * 0.5},2024-01-01`);
  const started = Date.now();
  const r = await check(`${rows.join("\n")}\n`);
  const seconds = (Date.now() - started) / 1000;
  const progress = r.messages.filter((m) => "done" in m);
  t.true(progress.length <= seconds * 4 + 3, `${progress.length} progress messages in ${seconds} s`);
  t.is(progress[0]!.status, "Checking about 300,000 rows");
  t.deepEqual(progress.at(-1), { done: 300_000, total: 300_000, status: "Checked all 300,000 rows" });
  for (const m of progress.slice(1, -1)) t.regex(String(m.status), /^Checked [\d,]+ of about 300,000 rows$/);
  t.is(r.summary.rows, 300_000);
  t.like(r.columns[1], { type: "decimal", min: 0, max: 149_999.5 });
});

const unreadable: [string, string | Buffer, string][] = [
  ["a file with only blank lines", "\n\n\r\n", "The file has no rows: it holds only blank lines."],
  ["an empty file", "", "The file is empty."],
  ["a file with NUL bytes", Buffer.from("a,b\n1,\0\n"), "The file holds NUL bytes, so it is not a text file. Upload the CSV file itself."],
  [
    "a UTF-16 file",
    Buffer.from("\uFEFFa,b\n", "utf16le"),
    'The file is in UTF-16. Save it as UTF-8 ("CSV UTF-8" in a spreadsheet) and upload it again.',
  ],
];
for (const [what, content, message] of unreadable) {
  test(`${what} cannot be checked: exit 1 with its message on fd 3`, async (t) => {
    const r = await check(content);
    t.is(r.code, 1);
    t.is(r.error, message);
    t.is(r.report, null);
  });
}

test("a file of 200,000 columns reports the first 500 one by one and says how many more there are, in results of bounded size", async (t) => {
  const columns = 200_000;
  const header = Array.from({ length: columns }, (_, i) => `c${i}`).join(",");
  const row = Array.from({ length: columns }, (_, i) => String(i % 10)).join(",");
  const r = await check(`${header}\n${row}\n${row}\n`);
  t.is(r.code, 0);
  t.is(r.summary.columns, columns);
  t.is(r.columns.length, 500);
  t.like(r.summary, { columnsShown: 500, columnsNotShown: columns - 500, columnsInFiles: 10_000 });
  t.is(r.report!.columns.length, 10_000);
  const resultBytes = r.lines.filter((l) => l.startsWith('{"result"')).reduce((n, l) => n + Buffer.byteLength(l), 0);
  t.true(resultBytes < 512 * 1024, `${resultBytes} bytes of results`);
});

// Checks an uploaded CSV file: a Python program (csv_check.py, standard
// library only) run by the runner, which copies the upload from Redis to a
// file first (SIDEJOB_INPUT_FILE). The program streams the file and reports
// a summary, one row per column and the problems it found, worst first; the
// full problems list (problems.csv) and the whole report (report.json) are
// downloads on the job's page.
import type { JobType } from "../core/job-type.ts";
import { isUploadRef, type Params } from "../core/fields.ts";

const fileName = (params: Params) => (isUploadRef(params.file) ? params.file.name : "a CSV file");
const DELIMITERS: Record<string, string> = {
  detect: "the delimiter detected",
  comma: "commas",
  semicolon: "semicolons",
  tab: "tabs",
};

export const csvCheck: JobType = {
  name: "csv-check",
  title: "Check a CSV file",
  description:
    "Upload a CSV file: it is read row by row, and you get a summary, what each column looks like, and every problem found, worst first, with its line.",
  submitLabel: "Check the file",
  fields: [
    {
      name: "file",
      kind: "file",
      label: "CSV file",
      hint: "A .csv, .tsv or .txt file in UTF-8.",
      accept: [".csv", ".tsv", ".txt", "text/csv"],
      // The program reads text: a compressed or binary file is refused as it arrives, in words for a spreadsheet's user.
      text: true,
      refusals: {
        empty: "The file {name} is empty. Choose a file with at least a header row.",
        notText: "The file {name} is not a text file (it holds NUL bytes). Upload the CSV file itself.",
        notUtf8: 'The file {name} is not UTF-8 text. Save it as UTF-8 ("CSV UTF-8" in a spreadsheet) and upload it again.',
      },
    },
    {
      name: "delimiter",
      kind: "choice",
      label: "Delimiter",
      hint: "What separates the cells of a row. Detect tries comma, semicolon, tab and |.",
      options: [
        { value: "detect", label: "Detect" },
        { value: "comma", label: "Comma (,)" },
        { value: "semicolon", label: "Semicolon (;)" },
        { value: "tab", label: "Tab" },
      ],
      default: "detect",
    },
    { name: "header", kind: "boolean", label: "The first row holds the column names", ticked: true },
  ],
  run: { command: ["python3", "./csv_check.py"] },
  // CPU-bound (one core each): two at once per instance; more wait in the queue.
  concurrency: 2,
  timeoutMs: 10 * 60_000,
  unit: ["row", "rows"],
  words: { noun: "the check", started: "The check has started.", done: "checked" },
  jobTitle: (params) => `Check ${fileName(params)}`,
  jobDescription: (params) =>
    `Checking ${fileName(params)}, with ${(typeof params.delimiter === "string" ? DELIMITERS[params.delimiter] : undefined) ?? "the delimiter detected"}, ${params.header === false ? "without" : "with"} a header row`,
  resultsTemplate: "types/csv-check-results",
};

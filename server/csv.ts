// The one rule for every CSV download (the results' result.csv and a job's
// output files that end in .csv): a cell that a spreadsheet would run as a
// formula, one starting with = + - @, a tab or a carriage return, gets a
// leading ' so that it is read as text. A plain number (-2, +1.5e3) is left
// as it is. The CSV check's program applies the same rule to its own
// problems.csv (jobs/types/csv_check.py, neutralised); applying it twice
// changes nothing.

const FORMULA_START = new Set([..."=+-@\t\r"].map((c) => c.charCodeAt(0)));
const PLAIN_NUMBER = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** A cell's text as a spreadsheet will not run it. */
export function neutralisedCell(text: string): string {
  return text.length > 0 && FORMULA_START.has(text.charCodeAt(0)) && !PLAIN_NUMBER.test(text) ? `'${text}` : text;
}

/** One CSV cell for a value (a string as it is, anything else as JSON), neutralised and quoted when it needs to be. */
export function csvCell(value: unknown): string {
  const text = neutralisedCell(typeof value === "string" ? value : (JSON.stringify(value) ?? ""));
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A CSV file with every cell neutralised: a ' goes in front of a cell's
 * first character (inside its quotes, for a quoted cell) where the rule
 * asks, and every other byte stays as it was. It reads bytes, not
 * characters: the delimiters and the formula characters are ASCII, so any
 * ASCII-compatible encoding (UTF-8 among them) is read right.
 */
export function neutralisedCsv(content: Buffer): Buffer {
  const inserts: number[] = [];
  let i = 0;
  const n = content.length;
  while (i <= n) {
    // i is the start of a cell.
    const quoted = content[i] === QUOTE;
    const first = quoted ? i + 1 : i;
    let end = first;
    if (quoted) {
      // Up to the closing quote ("" is a quote inside the cell).
      while (end < n && !(content[end] === QUOTE && content[end + 1] !== QUOTE)) end += content[end] === QUOTE ? 2 : 1;
    } else {
      while (end < n && content[end] !== COMMA && content[end] !== LF && content[end] !== CR) end++;
    }
    if (first < n && FORMULA_START.has(content[first]!)) {
      const text = content.subarray(first, Math.min(end, first + 64)).toString("latin1");
      if (end - first > 64 || !PLAIN_NUMBER.test(text)) inserts.push(first);
    }
    // Past the closing quote, then to the next cell's start.
    let next = quoted ? end + 1 : end;
    while (next < n && content[next] !== COMMA && content[next] !== LF && content[next] !== CR) next++;
    if (next >= n) break;
    if (content[next] === CR && content[next + 1] === LF) next++;
    i = next + 1;
    if (i === n) break;
  }
  if (inserts.length === 0) return content;
  const parts: Buffer[] = [];
  let from = 0;
  for (const at of inserts) {
    parts.push(content.subarray(from, at), Buffer.from("'"));
    from = at;
  }
  parts.push(content.subarray(from));
  return Buffer.concat(parts);
}

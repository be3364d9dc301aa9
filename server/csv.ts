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

/** A cell's first bytes the formula rule reads: more than these, and a cell that starts like a formula is one. */
const CELL_TEXT_BYTES = 64;

/**
 * neutralisedCsv, a chunk at a time: each chunk given, the bytes that are
 * sure (a cell that starts like a formula is held until its end, or its
 * 65th byte, says which it is); end() gives the rest. What it gives, put
 * together, is neutralisedCsv of the chunks put together.
 */
export class CsvNeutraliser {
  /** "start": at a cell's start; "quoted"/"plain": in a cell's text; "quote": a quote in a quoted cell, closing unless a quote follows; "after": past a closing quote; "cr": just past a CR. */
  private state: "start" | "quoted" | "plain" | "quote" | "after" | "cr" = "start";
  /** The text of a cell that starts like a formula, held until it is known to be one. */
  private held: number[] | null = null;

  push(chunk: Buffer): Buffer {
    // Each byte at most once, and a ' per cell: never more than twice the chunk, with what was held.
    const out = new Out(2 * chunk.length + 2 * CELL_TEXT_BYTES + 4);
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      // Runs of bytes that are sent as they are, copied at once: a plain cell's text, what follows a closing quote, a quoted cell's text.
      if (this.held === null && !this.firstOfQuoted && this.state !== "start" && this.state !== "cr" && this.state !== "quote") {
        let j = i;
        if (this.state === "quoted") j = chunk.indexOf(QUOTE, i) < 0 ? n : chunk.indexOf(QUOTE, i);
        else while (j < n && chunk[j] !== COMMA && chunk[j] !== LF && chunk[j] !== CR) j++;
        out.copy(chunk, i, j);
        i = j;
        if (i >= n) break;
      }
      this.step(chunk[i]!, out);
    }
    return out.bytes();
  }

  end(): Buffer {
    const out = new Out(2 * CELL_TEXT_BYTES + 4);
    if (this.state === "quote") {
      this.decide(out);
      out.push(QUOTE);
    } else this.decide(out);
    return out.bytes();
  }

  /** The held cell's text, with a ' before it when the rule asks. */
  private decide(out: Out): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    const text = Buffer.from(held.slice(0, CELL_TEXT_BYTES)).toString("latin1");
    if (held.length > CELL_TEXT_BYTES || !PLAIN_NUMBER.test(text)) out.push(APOSTROPHE);
    for (const b of held) out.push(b);
  }

  /** A byte of a cell's text: held when the cell's first byte started it, sent otherwise. */
  private text(byte: number, out: Out): void {
    if (!this.held) return void out.push(byte);
    this.held.push(byte);
    // More than the rule reads: it is a formula whatever follows.
    if (this.held.length > CELL_TEXT_BYTES) this.decide(out);
  }

  private delimiter(byte: number, out: Out): void {
    this.decide(out);
    out.push(byte);
    this.state = byte === CR ? "cr" : "start";
  }

  private step(byte: number, out: Out): void {
    switch (this.state) {
      case "cr":
        if (byte === LF) {
          out.push(byte);
          this.state = "start";
          return;
        }
        this.state = "start";
        return this.step(byte, out);
      case "start":
        if (byte === QUOTE) {
          out.push(byte);
          this.state = "quoted";
          // The cell's first byte is the next one.
          this.firstOfQuoted = true;
          return;
        }
        this.state = "plain";
        if (FORMULA_START.has(byte)) this.held = [];
        return this.step(byte, out);
      case "plain":
        if (byte === COMMA || byte === LF || byte === CR) return this.delimiter(byte, out);
        return this.text(byte, out);
      case "quoted":
        if (this.firstOfQuoted) {
          this.firstOfQuoted = false;
          if (FORMULA_START.has(byte)) this.held = [];
        }
        if (byte === QUOTE) {
          this.state = "quote";
          return;
        }
        return this.text(byte, out);
      case "quote":
        if (byte === QUOTE) {
          // "" is a quote inside the cell.
          this.state = "quoted";
          this.text(QUOTE, out);
          return this.text(QUOTE, out);
        }
        this.decide(out);
        out.push(QUOTE);
        this.state = "after";
        return this.step(byte, out);
      case "after":
        if (byte === COMMA || byte === LF || byte === CR) return this.delimiter(byte, out);
        out.push(byte);
        return;
    }
  }

  private firstOfQuoted = false;
}

const APOSTROPHE = 0x27;

/** Bytes written into a buffer of a size known to be enough. */
class Out {
  private readonly buf: Buffer;
  private n = 0;
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }
  push(byte: number): void {
    this.buf[this.n++] = byte;
  }
  copy(from: Buffer, start: number, end: number): void {
    this.n += from.copy(this.buf, this.n, start, end);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

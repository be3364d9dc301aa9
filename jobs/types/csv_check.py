"""Checks an uploaded CSV file, for the "csv-check" job type (csv-check.ts).

Reads: the parameters as JSON on stdin ({"file": {"name", "size"},
"delimiter": "detect" | "comma" | "semicolon" | "tab", "header": true |
false}); the file itself at the path in SIDEJOB_INPUT_FILE (the runner copies
the upload there).

Writes: progress and a status line on the descriptor in SIDEJOB_FD, a few
times a second at most; at the end the report as results (a message line is
at most 64 KB, so the report comes in parts, in this order):
  {"part": "summary", "summary": {...}}
  {"part": "columns", "columns": [...]}      one or more: the first COLUMNS_SHOWN_MAX columns
  {"part": "problems", "problems": [...]}    none or more: the first 1,000, worst first
and two files in SIDEJOB_OUTPUT_DIR: problems.csv (every problem, worst first,
up to FILE_PROBLEMS_MAX, with cells that a spreadsheet would run as a formula
neutralised) and report.json (the report, the same problems, the first
FILE_COLUMNS_MAX columns). What the results hold is bounded whatever the file:
a file of 200,000 columns reports the first COLUMNS_SHOWN_MAX one by one, and
the summary says how many more there are (columnsShown, columnsNotShown).

Exit codes: 0 the file was checked (whatever it holds); 1 it could not be read
at all, after {"error": "<why, in plain words>"} on the descriptor.

The file is streamed: the memory used does not grow with its size. Cells are
checked a column of a batch of rows at a time, with one regular expression
over the whole column, so the work per cell stays in C.

Run it by hand:
  echo '{"delimiter": "detect", "header": true}' | SIDEJOB_INPUT_FILE=data.csv python3 jobs/types/csv_check.py
Standard library only.
"""
import codecs
import csv
import json
import os
import re
import sys
import tempfile
import time

REPORT_EVERY_S = 0.25  # at most four progress messages a second
BATCH_ROWS = 2000  # rows checked together, column by column
SAMPLE_ROWS = 1000  # the rows a column's type is guessed from
RESULT_PROBLEMS_MAX = 1000  # problems in the results (what the page shows)
COLUMNS_SHOWN_MAX = 500  # columns reported one by one in the results (what the page shows)
FILE_COLUMNS_MAX = 10_000  # columns reported one by one in report.json
BATCH_CELLS = 1_000_000  # a batch of a wide file holds fewer rows: at most this many cells
FILE_PROBLEMS_MAX = 50_000  # problems in each file (the runner keeps 20 MB of output files per job)
PART_MAX_BYTES = 48_000  # one result message stays under the runner's 64 KB line
CELL_MAX_BYTES = 1024 * 1024  # a longer cell is an error (an unclosed quote, usually)
VALUE_MAX_CHARS = 40  # a cell's value shown with its problem
LINES_PER_COLUMN = 5  # line numbers kept per column for cells that do not fit
SNIFF_BYTES = 64 * 1024

DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
DELIMITER_NAMES = {v: k for k, v in DELIMITERS.items()}

# Problems, worst first: the order of the lists and the files.
SEVERITY = {
    "unclosed-quote": "error",
    "stray-quote": "error",
    "not-utf8": "error",
    "header": "error",
    "field-count": "error",
    "type": "warning",
    "spaces": "warning",
    "blank-line": "notice",
}
KINDS = list(SEVERITY)

SPACE = "[ \t]*"
INT = r"[+-]?\d+"
DEC_POINT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
DEC_COMMA = r"[+-]?\d+,\d+"
DATE = (
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|(?:0?[1-9]|[12]\d|3[01])[/.](?:0?[1-9]|1[0-2])[/.]\d{4}"
)
# Cells of a batch's column are joined with NUL, which a checked file never holds.
SEP = "\x00"
NOT_UTF8 = re.compile("[\udc80-\udcff]")
# Characters that int() or float() accept beyond a plain number: whitespace, "_", and for float() nan, inf, hex.
PLAIN_NUMBER_BREAKERS = {
    "integer": (" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "_"),
    "decimal": (" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "_", "n", "N", "i", "I", "x", "X"),
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

TYPE_WORDS = {
    "integer": "a whole number",
    "decimal": "a number",
    "date": "a date",
}


def cell_pattern(alternatives):
    return re.compile(f"{SPACE}(?:{alternatives}){SPACE}", re.ASCII)


def column_pattern(alternatives):
    """Every cell of a joined column is empty or of the type."""
    one = f"(?:{SPACE}(?:{alternatives}){SPACE})?"
    return re.compile(f"{one}(?:\x00{one})*", re.ASCII)


class Unreadable(Exception):
    """The file cannot be checked at all: the message says why, in plain words."""


def messages():
    """The message channel, or a stand-in that prints them when run by hand."""
    try:
        return os.fdopen(int(os.environ.get("SIDEJOB_FD", "3")), "w", buffering=1)
    except OSError:
        return sys.stderr


def shown(value):
    """A cell as the report shows it: invalid bytes as U+FFFD, cut to VALUE_MAX_CHARS."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text if len(text) <= VALUE_MAX_CHARS else text[: VALUE_MAX_CHARS - 1] + "…"


def neutralised(cell):
    """A problems.csv cell that a spreadsheet will not run as a formula (the server's rule for every CSV download: server/csv.ts)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def scan(path):
    """One quick pass over the bytes: BOM, NUL bytes, invalid UTF-8, line endings, lines."""
    facts = {"bom": False, "nul": False, "invalid": False, "crlf": 0, "lf": 0, "cr": 0, "bytes": 0, "last": b""}
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        first = True
        while True:
            chunk = f.read(1024 * 1024)
            if not chunk:
                break
            if first:
                first = False
                if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise Unreadable("The file is in UTF-16. Save it as UTF-8 (\"CSV UTF-8\" in a spreadsheet) and upload it again.")
                facts["bom"] = chunk.startswith(codecs.BOM_UTF8)
            facts["bytes"] += len(chunk)
            if b"\x00" in chunk:
                facts["nul"] = True
            if not facts["invalid"]:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    facts["invalid"] = True
            cr = chunk.count(b"\r")
            crlf = chunk.count(b"\r\n") if cr else 0
            facts["crlf"] += crlf
            facts["lf"] += chunk.count(b"\n") - crlf
            facts["cr"] += cr - crlf
            facts["last"] = chunk[-1:]
    if facts["nul"]:
        raise Unreadable("The file holds NUL bytes, so it is not a text file. Upload the CSV file itself.")
    lines = facts["crlf"] + facts["lf"] + facts["cr"]
    if facts["bytes"] and facts["last"] not in (b"\n", b"\r"):
        lines += 1
    facts["lines"] = lines
    return facts


def line_endings(facts):
    kinds = [name for name, key in (("CRLF (Windows)", "crlf"), ("LF (Unix)", "lf"), ("CR (old Mac)", "cr")) if facts[key]]
    if not kinds:
        return "none (a single line)"
    return kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds)


def detect_delimiter(path):
    """The candidate that splits the first rows into the most consistent number of fields (more than one)."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        sample = f.read(SNIFF_BYTES)
        cut = len(sample) == SNIFF_BYTES
    lines = sample.splitlines(keepends=True)
    if cut and len(lines) > 1:
        lines = lines[:-1]
    best, best_score = ",", None
    for delimiter in DELIMITERS.values():
        counts = {}
        try:
            for i, row in enumerate(csv.reader(lines, delimiter=delimiter)):
                if i >= 200:
                    break
                if row:
                    counts[len(row)] = counts.get(len(row), 0) + 1
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(counts, key=lambda n: (counts[n], n))
        share = counts[mode] / sum(counts.values())
        score = (mode > 1, share, mode)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best if best_score and best_score[0] else ","


class Problems:
    """Every problem: counted, the first RESULT_PROBLEMS_MAX of each kind kept, all spooled to a file per kind."""

    def __init__(self, names):
        self.names = names
        self.counts = {kind: 0 for kind in KINDS}
        self.kept = {kind: [] for kind in KINDS}
        self.spools = {}

    def add(self, kind, line, column, message, value=None):
        self.counts[kind] += 1
        n = self.counts[kind]
        if n > FILE_PROBLEMS_MAX:
            return
        problem = {"line": line, "column": None if column is None else column + 1, "name": self.names(column), "kind": kind, "severity": SEVERITY[kind], "message": message}
        if value is not None:
            problem["value"] = shown(value)
        if n <= RESULT_PROBLEMS_MAX:
            self.kept[kind].append(problem)
        spool = self.spools.get(kind)
        if spool is None:
            spool = self.spools[kind] = tempfile.TemporaryFile("w+", encoding="utf-8")
        spool.write(json.dumps(problem) + "\n")

    @property
    def total(self):
        return sum(self.counts.values())

    def first(self, limit):
        out = []
        for kind in KINDS:
            out.extend(self.kept[kind][: limit - len(out)])
            if len(out) >= limit:
                break
        return out

    def all(self, limit):
        """Every spooled problem, worst first, up to limit."""
        given = 0
        for kind in KINDS:
            spool = self.spools.get(kind)
            if spool is None:
                continue
            spool.seek(0)
            for line in spool:
                if given >= limit:
                    return
                given += 1
                yield json.loads(line)


class Column:
    def __init__(self, index, name):
        self.index = index
        self.name = name
        self.type = None  # decided from the sample
        self.filled = 0
        self.empty = 0
        self.misfits = 0
        self.misfit_lines = []
        self.count = 0
        self.total = 0
        self.min = None
        self.max = None

    def report(self):
        out = {
            "index": self.index + 1,
            "name": self.name,
            "type": self.type,
            "filled": self.filled,
            "empty": self.empty,
            "notFitting": self.misfits,
            "notFittingLines": self.misfit_lines,
        }
        if self.type in ("integer", "decimal") and self.count:
            mean = self.total / self.count
            out.update(min=self.min, max=self.max, mean=round(mean, 6) if isinstance(mean, float) else mean)
        return out


class Checker:
    def __init__(self, delimiter):
        comma = delimiter == ","
        decimal = DEC_POINT if comma else f"{DEC_POINT}|{DEC_COMMA}"
        self.decimal_comma = not comma
        self.cell = {"integer": cell_pattern(INT), "decimal": cell_pattern(decimal), "date": cell_pattern(DATE)}
        self.whole = {"integer": column_pattern(INT), "decimal": column_pattern(decimal), "date": column_pattern(DATE)}

    def kind_of(self, value):
        """The type one cell looks like, or None when empty."""
        if value == "" or value.isspace():
            return None
        for kind in ("integer", "decimal", "date"):
            if self.cell[kind].fullmatch(value):
                return kind
        return "text"

    def decide(self, column, values):
        """A column's type: the kind most of its first non-empty values have (numbers: whole or not)."""
        counts = {"integer": 0, "decimal": 0, "date": 0, "text": 0}
        for value in values:
            kind = self.kind_of(value)
            if kind:
                counts[kind] += 1
        numbers = counts["integer"] + counts["decimal"]
        if numbers + counts["date"] + counts["text"] == 0:
            column.type = "empty"
        elif numbers > counts["date"] and numbers > counts["text"]:
            column.type = "decimal" if counts["decimal"] else "integer"
        elif counts["date"] > counts["text"]:
            column.type = "date"
        else:
            column.type = "text"

    def plain_numbers(self, kind, joined, values):
        """The numbers of a column that is plainly of its type, converted in C; None when it needs the pattern.

        int() and float() take more than the patterns do (spaces, "1_000",
        digits of other scripts; float() also "nan", "inf"): a column with any
        of those goes the pattern's way.
        """
        if kind == "date" or (kind == "decimal" and self.decimal_comma) or not joined.isascii():
            return None
        if any(c in joined for c in PLAIN_NUMBER_BREAKERS[kind]):
            return None
        try:
            return list(map(int if kind == "integer" else float, filter(None, values)))
        except ValueError:
            return None

    def number(self, value):
        value = value.strip(" \t")
        if self.decimal_comma and "," in value:
            value = value.replace(",", ".")
        return float(value)

    def check(self, column, values, lines, problems):
        """One column of a batch: empty cells, cells that do not fit, spaces, numbers."""
        joined = SEP.join(values)
        empty = values.count("")
        column.empty += empty
        column.filled += len(values) - empty
        found = []
        if ("\t" in joined or " " in joined) and (
            " \x00" in joined
            or "\x00 " in joined
            or "\t\x00" in joined
            or "\x00\t" in joined
            or joined.startswith((" ", "\t"))
            or joined.endswith((" ", "\t"))
        ):
            for i, value in enumerate(values):
                if value and (value[0] in " \t" or value[-1] in " \t"):
                    found.append(("spaces", lines[i], "Only spaces" if value.isspace() else "Leading or trailing spaces", value))
        kind = column.type
        if kind not in self.whole:
            return found
        numbers = self.plain_numbers(kind, joined, values)
        if numbers is None:
            if self.whole[kind].fullmatch(joined):
                fitting = [v for v in values if v and not v.isspace()] if kind != "date" else None
            else:
                cell = self.cell[kind]
                fitting = []
                for i, value in enumerate(values):
                    if value == "" or value.isspace():
                        continue
                    if cell.fullmatch(value):
                        fitting.append(value)
                        continue
                    column.misfits += 1
                    if len(column.misfit_lines) < LINES_PER_COLUMN:
                        column.misfit_lines.append(lines[i])
                    words = "Not a whole number, in a column of integers" if kind == "integer" else f"Not {TYPE_WORDS[kind]}, in a column of {kind}s"
                    found.append(("type", lines[i], words, value))
            if kind == "integer" and fitting:
                numbers = list(map(int, fitting))
            elif kind == "decimal" and fitting:
                numbers = list(map(self.number, fitting))
        if numbers:
            column.count += len(numbers)
            column.total += sum(numbers)
            low, high = min(numbers), max(numbers)
            column.min = low if column.min is None else min(column.min, low)
            column.max = high if column.max is None else max(column.max, high)
        return found


def main():
    params = json.load(sys.stdin)
    out = messages()

    def send(**message):
        out.write(json.dumps(message) + "\n")

    try:
        report, problems, names = check(params, send)
    except Unreadable as err:
        send(error=str(err))
        print(f"Could not check the file: {err}", file=sys.stderr)
        sys.exit(1)
    write_outputs(report, problems, send)
    s = report["summary"]
    print(f"{plural(s['rows'], 'row')}, {plural(s['columns'], 'column')}, {plural(s['problemCount'], 'problem')}, in {s['seconds']} s")


def plural(n, word):
    """1 -> "1 row", 3000 -> "3,000 rows"."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def check(params, send):
    path = os.environ.get("SIDEJOB_INPUT_FILE")
    if not path or not os.path.isfile(path):
        raise Unreadable("No file was given to check.")
    started = time.monotonic()
    facts = scan(path)
    if facts["bytes"] == 0 or facts["bytes"] == (3 if facts["bom"] else 0):
        raise Unreadable("The file is empty.")
    chosen = str(params.get("delimiter") or "detect")
    if chosen == "detect":
        delimiter = detect_delimiter(path)
    elif chosen in DELIMITERS:
        delimiter = DELIMITERS[chosen]
    else:
        raise Unreadable(f"Unknown delimiter {chosen!r}: choose detect, comma, semicolon or tab.")
    has_header = params.get("header", True) is not False
    about = max(facts["lines"] - (1 if has_header else 0), 1)
    send(total=about, done=0, status=f"Checking about {about:,} rows")

    header = None
    columns = []
    problems = Problems(lambda i: None if i is None or i >= len(columns) else columns[i].name)
    checker = Checker(delimiter)
    csv.field_size_limit(CELL_MAX_BYTES)

    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        source = f
        if facts["invalid"]:

            def lines_checked():
                number = 0
                for text in f:
                    number += 1
                    if NOT_UTF8.search(text):
                        problems.add("not-utf8", number, None, "Bytes that are not UTF-8 (shown as \ufffd)", text.rstrip("\r\n"))
                    yield text

            source = lines_checked()
        reader = csv.reader(source, delimiter=delimiter, strict=True)
        rows = 0
        blank = 0
        previous = 0  # the last line of the previous row (while looking for the first)
        batch = []
        than = "the header" if has_header else "the first row"
        width = None
        sampled = False
        last_report = time.monotonic()

        # Rows that are not of the header's width (blank, ragged, unreadable)
        # wait in `odd` with their place in the batch and the line they end on.
        odd = []
        anchor = 0  # the last line before the batch

        def line_starts():
            """The first line of each row of the batch, and the problems of the odd rows, in order."""
            if not odd and reader.line_num - anchor == len(batch):
                return range(anchor + 1, anchor + 1 + len(batch))
            starts = []
            line = anchor + 1
            at = 0
            for k in range(len(batch) + 1):
                while at < len(odd) and odd[at][0] == k:
                    _, row, end, error = odd[at]
                    at += 1
                    if error is not None:
                        unreadable_row(error, line, end)
                    elif not row:
                        problems.add("blank-line", end, None, "Blank line")
                    else:
                        more = "more" if len(row) > width else "fewer"
                        problems.add("field-count", line, None, f"{len(row)} field{'' if len(row) == 1 else 's'}, {more} than {than} ({width})")
                    line = end + 1
                if k < len(batch):
                    starts.append(line)
                    # A row spans one line, plus one for each line break in its quoted cells.
                    line += 1 + sum(c.count("\n") + c.count("\r") - c.count("\r\n") for c in batch[k])
            return starts

        def flush():
            nonlocal sampled, anchor
            starts = line_starts()
            anchor = reader.line_num
            odd.clear()
            if not batch:
                return
            if not sampled:
                for column, values in zip(columns, zip(*batch)):
                    checker.decide(column, values[: SAMPLE_ROWS])
                sampled = True
            found = []
            for column, values in zip(columns, zip(*batch)):
                for kind, line, message, value in checker.check(column, values, starts, problems):
                    found.append((line, column.index, kind, message, value))
            found.sort(key=lambda p: (p[0], p[1]))
            for line, index, kind, message, value in found:
                problems.add(kind, line, index, message, value)
            batch.clear()

        def unreadable_row(err, line, end):
            """A row the csv module refused (lines line to end): the problem, or the end of the check when it is the first row."""
            text = str(err)
            if "expected after" in text:
                problems.add("stray-quote", line, None, "A quote in the middle of a cell: a quoted cell must end with the quote, then the delimiter")
            elif "end of data" in text:
                if header is None:
                    raise Unreadable(f"The quote opened on line {line} is never closed, so no row could be read.")
                problems.add("unclosed-quote", line, None, "A quote opened in this row is never closed: the rest of the file was read as one cell")
            elif "field limit" in text:
                if header is None:
                    raise Unreadable(f"The quote opened on line {line} is not closed within 1 MB, so no row could be read.")
                problems.add("unclosed-quote", line, None, f"A cell longer than 1 MB, up to line {end}: a quote opened in this row is probably never closed")
            else:
                problems.add("stray-quote", line, None, f"This row cannot be read: {text}")

        # The first row that is not blank: the header, or the first row of data.
        while header is None:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                unreadable_row(err, previous + 1, reader.line_num)
                previous = reader.line_num
                continue
            line = previous + 1
            previous = reader.line_num
            if not row:
                blank += 1
                problems.add("blank-line", line, None, "Blank line")
                continue
            width = len(row)
            if has_header:
                header = row
                columns.extend(Column(i, shown(name.strip(" \t"))) for i, name in enumerate(row))
                seen = {}
                for i, name in enumerate(row):
                    key = name.strip(" \t").casefold()
                    if key == "":
                        problems.add("header", line, i, "Empty header name")
                    elif key in seen:
                        problems.add("header", line, i, f"Header name used again (first in column {seen[key] + 1})", name)
                    else:
                        seen[key] = i
            else:
                header = []
                columns.extend(Column(i, f"Column {i + 1}") for i in range(width))
                batch.append(row)
                anchor = line - 1
        if not batch:
            anchor = previous

        # The rows: the loop stays small; line numbers and checks come a batch at a time.
        # A wide file's batches hold fewer rows: the cells held at once stay bounded.
        batch_rows = max(1, min(BATCH_ROWS, BATCH_CELLS // max(width or 1, 1)))
        limit = min(SAMPLE_ROWS, batch_rows)
        append = batch.append
        while header is not None:
            try:
                for row in reader:
                    if len(row) == width:
                        append(row)
                        if len(batch) >= limit:
                            rows += len(batch)
                            flush()
                            limit = batch_rows
                            now = time.monotonic()
                            if now - last_report >= REPORT_EVERY_S:
                                last_report = now
                                estimate = max(about, rows)
                                send(done=rows, total=estimate, status=f"Checked {rows:,} of about {estimate:,} rows")
                    else:
                        odd.append((len(batch), row, reader.line_num, None))
                break
            except csv.Error as err:
                odd.append((len(batch), None, reader.line_num, err))
        rows += len(batch)
        flush()
        blank = problems.counts["blank-line"]
        rows += problems.counts["field-count"]

    if header is None:
        raise Unreadable("The file has no rows: it holds only blank lines." if blank else "The file has no rows to check.")
    for column in columns:
        if column.type is None:
            column.type = "empty"

    delimiter_name = DELIMITER_NAMES.get(delimiter, delimiter)
    summary = {
        "file": params.get("file", {}).get("name") if isinstance(params.get("file"), dict) else None,
        "bytes": facts["bytes"],
        "lines": facts["lines"],
        "rows": rows,
        "columns": len(columns),
        "delimiter": delimiter_name,
        "delimiterDetected": chosen == "detect",
        "header": has_header,
        "encoding": "UTF-8 with BOM" if facts["bom"] else "UTF-8",
        "notUtf8Lines": problems.counts["not-utf8"],
        "lineEndings": line_endings(facts),
        "blankLines": blank,
        "problemCount": problems.total,
        "problemCounts": {kind: n for kind, n in problems.counts.items() if n},
        "problemsShown": min(problems.total, RESULT_PROBLEMS_MAX),
        "problemsInFiles": min(problems.total, FILE_PROBLEMS_MAX),
        "columnsShown": min(len(columns), COLUMNS_SHOWN_MAX),
        "columnsNotShown": max(0, len(columns) - COLUMNS_SHOWN_MAX),
        "columnsInFiles": min(len(columns), FILE_COLUMNS_MAX),
        "seconds": round(time.monotonic() - started, 3),
    }
    send(done=rows, total=rows, status=f"Checked all {rows:,} rows")
    report = {"summary": summary, "columns": [c.report() for c in columns[:FILE_COLUMNS_MAX]]}
    return report, problems, columns


def write_outputs(report, problems, send):
    output_dir = os.environ.get("SIDEJOB_OUTPUT_DIR", ".")
    limit = report["summary"]["problemsInFiles"]
    with open(os.path.join(output_dir, "problems.csv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "column", "column name", "severity", "problem", "value"])
        for p in problems.all(limit):
            writer.writerow([neutralised(v) for v in (p["line"], p["column"] or "", p["name"] or "", p["severity"], p["message"], p.get("value", ""))])
    with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as f:
        f.write('{"summary": ' + json.dumps(report["summary"]) + ', "columns": ' + json.dumps(report["columns"]) + ', "problems": [')
        for i, p in enumerate(problems.all(limit)):
            f.write(("," if i else "") + "\n" + json.dumps(p))
        f.write("\n]}\n")

    send(result={"part": "summary", "summary": report["summary"]})
    for key, items in (("columns", report["columns"][:COLUMNS_SHOWN_MAX]), ("problems", problems.first(RESULT_PROBLEMS_MAX))):
        part, size = [], 0
        for item in items:
            text = json.dumps(item)
            if part and size + len(text) > PART_MAX_BYTES:
                send(result={"part": key, key: part})
                part, size = [], 0
            part.append(item)
            size += len(text) + 2
        if part or key == "columns":
            send(result={"part": key, key: part})


if __name__ == "__main__":
    main()

// The fd 3 protocol: what a program under the runner tells it, one JSON
// object per line on the descriptor named by SIDEJOB_FD (3):
//   {"done": 40, "total": 100}      progress (the latest counts)
//   {"status": "Reading rows"}      what it is doing now (the latest counts)
//   {"result": <any JSON>}          one result, appended to the job's results
//   {"error": "No header row"}      its failure message, if it then exits non-zero
// One line may combine them. Other keys beside these are ignored (room for
// later fields); a line with none of them is ignored and logged (a misspelt
// key, "progres", would otherwise be lost without a word).
// The model is systemd's sd_notify: a tiny text protocol on a descriptor
// named in the environment.
//
// Messages are applied through the store in batches (Reporter), a few writes
// a second at most however fast the program writes: progress and status keep
// their latest value, results are all kept, in order.

/** The longest line read on fd 3; a longer one is ignored (and logged). */
export const MESSAGE_MAX_BYTES = 64 * 1024;
/** A status line is cut to this many characters, an error message to ERROR_MAX_CHARS. */
export const STATUS_MAX_CHARS = 200;
export const ERROR_MAX_CHARS = 1000;
/** Between two progress writes to Redis. */
export const REPORT_INTERVAL_MS = 250;
/** Results sent in one write (a Lua script unpacks them onto its stack). */
export const RESULTS_PER_REPORT = 500;
/** Results (in bytes of JSON) held before fd 3 is paused until they are written. */
export const MAX_PENDING_RESULT_BYTES = 1024 * 1024;

export interface Message {
  done?: number;
  total?: number;
  status?: string;
  error?: string;
  /** Present when the line had a "result" key (a result may be null). */
  result?: { value: unknown };
}

/** The keys a message line may hold. */
const MESSAGE_KEYS = ["done", "total", "status", "result", "error"] as const;

const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A message from one line, or why it is ignored. */
export function parseMessage(line: string): { ok: true; message: Message } | { ok: false; why: string } {
  if (Buffer.byteLength(line) > MESSAGE_MAX_BYTES) return { ok: false, why: `longer than ${MESSAGE_MAX_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, why: "not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, why: "not a JSON object" };
  const o = value as Record<string, unknown>;
  if (!MESSAGE_KEYS.some((k) => k in o)) {
    const keys = Object.keys(o)
      .slice(0, 5)
      .map((k) => JSON.stringify(k.slice(0, 40)))
      .join(", ");
    return { ok: false, why: `no key it knows (${keys || "an empty object"}; the keys are ${MESSAGE_KEYS.join(", ")})` };
  }
  const message: Message = {};
  if ("done" in o) {
    if (!count(o.done)) return { ok: false, why: '"done" must be a whole number >= 0' };
    message.done = o.done as number;
  }
  if ("total" in o) {
    if (!count(o.total)) return { ok: false, why: '"total" must be a whole number >= 0' };
    message.total = o.total as number;
  }
  if ("status" in o) {
    if (typeof o.status !== "string") return { ok: false, why: '"status" must be text' };
    message.status = o.status.slice(0, STATUS_MAX_CHARS);
  }
  if ("error" in o) {
    if (typeof o.error !== "string") return { ok: false, why: '"error" must be text' };
    message.error = o.error.slice(0, ERROR_MAX_CHARS);
  }
  if ("result" in o) message.result = { value: o.result };
  return { ok: true, message };
}

/** Cuts a byte stream into lines, each at most maxBytes; a longer line is reported once and skipped to its end. */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.skipping) {
        if (this.size + (end - start) > this.maxBytes) {
          this.skipping = true;
          this.parts = [];
          this.size = 0;
          this.onTooLong();
        } else if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.size += end - start;
        }
      }
      if (nl === -1) return;
      if (!this.skipping) this.emit();
      this.skipping = false;
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    if (!this.skipping && this.size > 0) this.emit();
    this.skipping = false;
  }

  private emit(): void {
    const line = Buffer.concat(this.parts, this.size).toString("utf8").replace(/\r$/, "");
    this.parts = [];
    this.size = 0;
    if (line.trim() !== "") this.onLine(line);
  }
}

export interface ProgressUpdate {
  done?: number;
  total?: number;
  status?: string;
  results?: unknown[];
}

/**
 * Applies messages in batches: at most one write per REPORT_INTERVAL_MS (the
 * first at once), with the latest progress and every result since the last
 * write. pressure(true) asks the reader to pause while too many results wait.
 */
export class Reporter {
  private update: ProgressUpdate = {};
  private results: unknown[] = [];
  private resultBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastSent = 0;
  private sending: Promise<void> = Promise.resolve();
  private paused = false;
  private closed = false;
  /** The last error message the program sent. */
  error: string | null = null;

  constructor(
    private readonly send: (update: ProgressUpdate) => Promise<void>,
    private readonly pressure: (pause: boolean) => void = () => {},
  ) {}

  add(message: Message): void {
    if (message.done !== undefined) this.update.done = message.done;
    if (message.total !== undefined) this.update.total = message.total;
    if (message.status !== undefined) this.update.status = message.status;
    if (message.error !== undefined) this.error = message.error;
    if (message.result) {
      this.results.push(message.result.value);
      this.resultBytes += (JSON.stringify(message.result.value) ?? "null").length;
      if (this.resultBytes > MAX_PENDING_RESULT_BYTES && !this.paused) {
        this.paused = true;
        this.pressure(true);
      }
    }
    this.schedule();
  }

  private get empty(): boolean {
    const u = this.update;
    return u.done === undefined && u.total === undefined && u.status === undefined && this.results.length === 0;
  }

  private schedule(): void {
    if (this.timer || this.closed || this.empty) return;
    const wait = Math.max(0, this.lastSent + REPORT_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, wait);
  }

  /** Writes what is waiting, in order after any write in flight. Never throws (a refused write is the lease's business). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.empty) return this.sending;
    const update = this.update;
    const results = this.results;
    this.update = {};
    this.results = [];
    this.resultBytes = 0;
    this.lastSent = Date.now();
    this.sending = this.sending.then(async () => {
      try {
        // Progress goes with the last batch of results, so done never runs ahead of them.
        for (let i = 0; i + RESULTS_PER_REPORT < results.length; i += RESULTS_PER_REPORT) {
          await this.send({ results: results.slice(i, i + RESULTS_PER_REPORT) });
        }
        const last = results.slice(Math.max(0, Math.ceil(results.length / RESULTS_PER_REPORT) - 1) * RESULTS_PER_REPORT);
        await this.send({ ...update, results: last });
      } catch {
        // Cancelled or fenced: the job's end is decided elsewhere.
      } finally {
        this.lastSent = Date.now();
        if (this.paused && this.resultBytes <= MAX_PENDING_RESULT_BYTES) {
          this.paused = false;
          this.pressure(false);
        }
        this.schedule();
      }
    });
    return this.sending;
  }

  /** Stops the timer; what waits is written by a last flush(). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

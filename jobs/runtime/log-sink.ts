// A job's log, on its way to Redis: text written by the job (or, under the
// runner, by its program) is cut into lines and sent in batches, a few times
// a second at most, so a chatty program costs a few Redis writes, not one per
// line. The store keeps the last lines (see LOG_MAX_LINES in store.ts); what a
// job writes faster than that is dropped from the start and counted. Lines
// Redis refuses to store (out of memory) are kept and sent again with the
// next flush, within the same bound.
import { setTimeout as sleep } from "node:timers/promises";
import { StoreWriteRefusedError, type JobStore } from "../core/store.ts";

/** How often buffered lines are sent. */
export const LOG_FLUSH_MS = 250;
/** Lines held between two flushes; more are counted as dropped rather than held (memory stays bounded). */
const MAX_BUFFERED_LINES = 1000;
/** A line that never ends is sent in pieces of this many characters. */
const MAX_PENDING_CHARS = 4096;

export class LogSink {
  private pending = "";
  private lines: string[] = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> = Promise.resolve();
  /** The last send was refused (Redis out of memory). */
  private refused = false;

  constructor(
    private readonly store: JobStore,
    private readonly id: string,
    /** Put in front of each line, e.g. "stderr: "; none by default. */
    private readonly prefix = "",
  ) {}

  write(chunk: string | Buffer): void {
    this.pending += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = this.pending.indexOf("\n")) !== -1) {
      this.add(this.pending.slice(0, nl).replace(/\r$/, ""));
      this.pending = this.pending.slice(nl + 1);
    }
    while (this.pending.length > MAX_PENDING_CHARS) {
      this.add(this.pending.slice(0, MAX_PENDING_CHARS));
      this.pending = this.pending.slice(MAX_PENDING_CHARS);
    }
    this.schedule();
  }

  /** Keeps the newest lines: the end of a log is what explains how a job ended. */
  private add(line: string): void {
    if (this.lines.length >= MAX_BUFFERED_LINES) {
      this.lines.shift();
      this.dropped++;
    }
    this.lines.push(this.prefix + line);
  }

  private schedule(): void {
    if (this.timer || this.lines.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, LOG_FLUSH_MS);
    this.timer.unref();
  }

  /** Lines Redis refused (out of memory): back in front of the newer ones, the oldest dropped past the bound. */
  private requeue(lines: string[], dropped: number): void {
    this.refused = true;
    const back = dropped > 0 ? lines.slice(1) : lines;
    this.lines = [...back, ...this.lines];
    this.dropped += dropped;
    const over = this.lines.length - MAX_BUFFERED_LINES;
    if (over > 0) {
      this.lines.splice(0, over);
      this.dropped += over;
    }
    this.schedule();
  }

  /**
   * The last flush, at the job's end: sends what is left, and while Redis
   * refuses it, tries again until `deadlineMs` has passed (then gives up).
   */
  async close(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    await this.flush(true);
    while (this.refused && this.lines.length > 0 && Date.now() < until) {
      await sleep(LOG_FLUSH_MS);
      await this.flush(true);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Sends what is buffered (and, with end, a last unfinished line). Never throws: a log is not worth failing a job for. */
  flush(end = false): Promise<void> {
    if (end && this.pending !== "") {
      this.add(this.pending);
      this.pending = "";
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lines = this.lines;
    const dropped = this.dropped;
    if (dropped > 0) lines.unshift(`[${dropped} lines were written too fast to keep]`);
    this.lines = [];
    this.dropped = 0;
    if (lines.length > 0) {
      this.sending = this.sending.then(() =>
        this.store.appendLog(this.id, lines).then(
          () => {
            this.refused = false;
          },
          (err: unknown) => {
            if (err instanceof StoreWriteRefusedError) this.requeue(lines, dropped);
          },
        ),
      );
    }
    return this.sending;
  }
}

// A job's log, on its way to the store: text written by the job (or, under the
// runner, by its program) is sent in batches, a few times a second at most,
// so a chatty program costs a few writes, not one per line. It is kept twice:
// - the last lines, in Redis, which the job's page shows as they come (see
//   LOG_MAX_LINES in store.ts): what a job writes faster than that is dropped
//   from the start and counted. Lines Redis refuses to store (out of memory)
//   are kept and sent again with the next flush, within the same bound. With
//   FILE_STORE_DIR there are none: the page reads the whole log's last lines
//   from the disk, so no byte of a log is in Redis.
// - the whole log, as written, which is downloaded: in Redis, or in
//   FILE_STORE_DIR (store/file-dir.ts), up to JOB_LOG_MAX_BYTES, where a marker
//   says it was cut. A writer that can wait (a program's pipes, which the
//   runner pauses) is told to once FULL_LOG_MAX_UNSENT bytes wait to be stored
//   (write() returns false, drained() says when to go on): the program is
//   slowed, as by a slow terminal, and its log kept whole. Bytes from a writer
//   that goes on past twice that are dropped, and a line says how many.
import { setTimeout as sleep } from "node:timers/promises";
import { logCutMarker, StoreWriteRefusedError, type JobStore } from "../core/store.ts";
import { untilAccepted } from "./refused.ts";

/** How often buffered lines are sent. */
export const LOG_FLUSH_MS = 250;
/** Lines held between two flushes; more are counted as dropped rather than held (memory stays bounded). */
const MAX_BUFFERED_LINES = 1000;
/** A line that never ends is sent in pieces of this many characters. */
const MAX_PENDING_CHARS = 4096;
/** Bytes of the whole log held at once, waiting or being sent, before a writer is asked to wait; twice this, and more are dropped (and counted). */
const FULL_LOG_MAX_UNSENT = 8 * 1024 * 1024;
/** Bytes of the whole log that are sent at once, without waiting for the next flush. */
const FULL_LOG_SEND_BYTES = 1024 * 1024;

export class LogSink {
  private pending = "";
  private lines: string[] = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> = Promise.resolve();
  /** The last send was refused (Redis out of memory). */
  private refused = false;
  /** The whole log's bytes not sent yet, and their count; bytes sent so far; bytes in sends not yet answered; bytes dropped. */
  private full: Buffer[] = [];
  private fullBytes = 0;
  private fullSent = 0;
  private fullInFlight = 0;
  private fullDropped = 0;
  private fullSending: Promise<void> = Promise.resolve();
  /** Writers waiting for the whole log to catch up (drained()). */
  private waiting: (() => void)[] = [];
  /** The whole log is all there is (FILE_STORE_DIR): no last lines are kept apart. */
  private readonly wholeOnly: boolean;

  constructor(
    private readonly store: JobStore,
    private readonly id: string,
    /** JOB_LOG_MAX_BYTES: the most bytes of the whole log. */
    private readonly fullLogMaxBytes = 4 * 1024 * 1024,
  ) {
    this.wholeOnly = store.fileDir !== null;
  }

  /** Takes what the job wrote; false when the writer should wait for drained(). */
  write(chunk: string | Buffer): boolean {
    this.keepWhole(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    if (this.wholeOnly) {
      this.schedule();
      return this.fullBytes + this.fullInFlight < FULL_LOG_MAX_UNSENT;
    }
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
    return this.fullBytes + this.fullInFlight < FULL_LOG_MAX_UNSENT;
  }

  /** Resolves once fewer than half of FULL_LOG_MAX_UNSENT bytes wait to be stored. */
  drained(): Promise<void> {
    if (this.fullBytes + this.fullInFlight < FULL_LOG_MAX_UNSENT / 2) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Holds bytes for the whole log, within FULL_LOG_MAX_UNSENT (past JOB_LOG_MAX_BYTES, the store keeps none). */
  private keepWhole(bytes: Buffer): void {
    if (this.fullSent + this.fullBytes > this.fullLogMaxBytes) return;
    if (this.fullBytes + this.fullInFlight + bytes.length > 2 * FULL_LOG_MAX_UNSENT) {
      this.fullDropped += bytes.length;
      return;
    }
    if (this.fullDropped > 0) {
      this.full.push(Buffer.from(`\n[${this.fullDropped} bytes of the log were written too fast to keep]\n`));
      this.fullDropped = 0;
    }
    this.full.push(bytes);
    this.fullBytes += bytes.length;
    if (this.fullBytes >= FULL_LOG_SEND_BYTES) void this.sendWhole();
  }

  /** Sends what is held of the whole log. Never throws: a log is not worth failing a job for. */
  private sendWhole(): Promise<void> {
    if (this.fullBytes === 0) return this.fullSending;
    const text = Buffer.concat(this.full, this.fullBytes);
    this.full = [];
    this.fullSent += text.length;
    this.fullInFlight += text.length;
    this.fullBytes = 0;
    const marker = logCutMarker(this.fullLogMaxBytes);
    this.fullSending = this.fullSending.then(() =>
      untilAccepted(`job ${this.id}: log`, () => this.store.appendFullLog(this.id, text, this.fullLogMaxBytes, marker)).then(
        () => this.sent(text.length),
        () => this.sent(text.length),
      ),
    );
    return this.fullSending;
  }

  private sent(bytes: number): void {
    this.fullInFlight -= bytes;
    // What waits now is sent at once: the writers go on only once it is mostly stored.
    if (this.fullBytes > 0) void this.sendWhole();
    if (this.fullBytes + this.fullInFlight < FULL_LOG_MAX_UNSENT / 2) for (const resolve of this.waiting.splice(0)) resolve();
  }

  /** Keeps the newest lines: the end of a log is what explains how a job ended. */
  private add(line: string): void {
    if (this.lines.length >= MAX_BUFFERED_LINES) {
      this.lines.shift();
      this.dropped++;
    }
    this.lines.push(line);
  }

  private schedule(): void {
    if (this.timer || (this.lines.length === 0 && this.fullBytes === 0)) return;
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
    await Promise.race([this.sendWhole(), sleep(Math.max(0, until - Date.now()))]);
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
    void this.sendWhole();
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

// The memory that large answers in flight may hold at once: a job page, its
// ?all=1 page and its JSON are read, rendered and held until the client has
// them; their size follows the job's results (bounded per page by
// RESULTS_SHOWN_BYTES, RESULTS_ALL_BYTES), and requests in flight are many
// (HTTP_LIMITS.MAX_IN_FLIGHT). Each such answer reserves its estimated bytes
// here before it reads, and gives them back once its response is closed (sent
// or aborted): beyond the budget (ANSWER_BYTES_IN_FLIGHT) an answer waits, and
// one that cannot start within ANSWER_WAIT_MS gets a 503 with Retry-After.
// Small answers (a job with few results) reserve little and never wait behind
// one another; the status poll's kept answers (job-cache.ts) reserve nothing.

/**
 * How many times its results' JSON a page holds at its peak, estimated with
 * room to spare: the text read, the parsed values, the view, the HTML as a
 * string and as bytes (a 0.5 MB job page renders from about 300 KB of results).
 * Measured around one render of the CSV check's 0.5 MB page (284 KB of
 * results, process.memoryUsage() after each step): 6.7 times. It was 10.8
 * while the view also made every value's text for a template that never shows
 * it (job-view.ts makes them on first use now) and two quotation marks per
 * problem made the whole page a two-byte string (the template writes them as
 * entities). A page whose text from the job goes beyond Latin-1 is a
 * two-byte string whatever the template: about 10 times, so the default 48 MiB
 * of reservations may then hold up to 60 MB (of a 192 MB heap).
 */
export const ANSWER_BYTES_PER_RESULT_BYTE = 8;
/** What any page holds besides its results (the layout, the log's last lines, the view). */
export const ANSWER_BASE_BYTES = 64 * 1024;
/** How long an answer may wait for the budget before it is refused with a 503. */
export const ANSWER_WAIT_MS = 5_000;

/** The bytes to reserve for a page that renders this many bytes of results. */
export const answerBytes = (resultBytes: number): number => ANSWER_BASE_BYTES + resultBytes * ANSWER_BYTES_PER_RESULT_BYTE;

interface Waiter {
  bytes: number;
  grant: () => void;
}

/** One reservation: resize it once the real size is known; release it once (later calls do nothing). */
export interface Reservation {
  resize(bytes: number): void;
  release(): void;
}

export class AnswerBudget {
  /** Bytes reserved now. */
  used = 0;
  /** Answers refused for want of budget, and answers that had to wait. */
  refused = 0;
  waited = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    readonly maxBytes: number,
    private readonly waitMs = ANSWER_WAIT_MS,
  ) {}

  /** Reserves bytes (at most the whole budget), waiting in line for them; null when they were not free within the wait. */
  async reserve(wanted: number): Promise<Reservation | null> {
    let bytes = Math.min(Math.max(0, Math.ceil(wanted)), this.maxBytes);
    if (this.queue.length > 0 || this.used + bytes > this.maxBytes) {
      this.waited++;
      const granted = await new Promise<boolean>((resolve) => {
        const waiter: Waiter = {
          bytes,
          grant: () => {
            clearTimeout(timer);
            resolve(true);
          },
        };
        const timer = setTimeout(() => {
          const at = this.queue.indexOf(waiter);
          if (at >= 0) this.queue.splice(at, 1);
          resolve(false);
          this.drain();
        }, this.waitMs);
        timer.unref();
        this.queue.push(waiter);
      });
      if (!granted) {
        this.refused++;
        return null;
      }
    } else {
      this.used += bytes;
    }
    let released = false;
    return {
      resize: (next) => {
        if (released) return;
        const to = Math.min(Math.max(0, Math.ceil(next)), this.maxBytes);
        this.used += to - bytes;
        bytes = to;
        this.drain();
      },
      release: () => {
        if (released) return;
        released = true;
        this.used -= bytes;
        this.drain();
      },
    };
  }

  /** Grants the waiters in line, first come first, while their bytes fit. */
  private drain(): void {
    while (this.queue.length > 0 && this.used + this.queue[0]!.bytes <= this.maxBytes) {
      const waiter = this.queue.shift()!;
      this.used += waiter.bytes;
      waiter.grant();
    }
  }
}

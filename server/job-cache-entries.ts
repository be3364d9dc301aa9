// The job cache's entries (job-cache.ts): a job's read as the pages show it,
// with the answers rendered from it, kept least recently used first and
// bounded by entries and by (estimated) bytes.
import type { AnswerMemo, PageRead, StatusAnswer } from "./status.ts";

/** Bytes counted for an entry besides its strings (objects, maps, the record's numbers). */
const ENTRY_OVERHEAD_BYTES = 1024;
/** Answers kept per entry (shown phase × htmx × log box × the reader's zone × the time's words); beyond it they start over. */
const ANSWERS_PER_ENTRY = 8;

/** An answer's text, and its bytes as the request listener writes them. */
const answerBytes = (answer: StatusAnswer): number => 2 * answer.body.length;

/** A job's read, kept: the PageRead the pages show, and the answers rendered from it. */
export class Entry implements PageRead, AnswerMemo {
  readonly job: PageRead["job"];
  readonly files: PageRead["files"];
  readonly resultBytes: PageRead["resultBytes"];
  /** Served until then (performance.now()): when its lease runs out, for a job that holds one. */
  readonly deadline: number;
  /** When the read was sent (performance.now()): it shows every change made before. */
  readonly sentAt: number;
  bytes: number;
  /** Set while the entry is in the cache: its answers count towards the cache's bytes. */
  owner: Entries | null = null;
  private answers = new Map<string, StatusAnswer>();

  constructor(read: PageRead, sentAt: number) {
    this.job = read.job;
    this.files = read.files;
    this.resultBytes = read.resultBytes;
    this.sentAt = sentAt;
    const { leaseExpiresAt, readAt } = read.job;
    // The lease's remaining time at Redis, counted from when the read was sent: never later than Redis' expiry.
    this.deadline = leaseExpiresAt === null ? Infinity : sentAt + (leaseExpiresAt - readAt);
    this.bytes = ENTRY_OVERHEAD_BYTES + JSON.stringify(read).length;
  }

  answer(key: string, make: () => StatusAnswer): StatusAnswer {
    const known = this.answers.get(key);
    if (known) return known;
    const made = make();
    let delta = answerBytes(made);
    if (this.answers.size >= ANSWERS_PER_ENTRY) {
      for (const old of this.answers.values()) delta -= answerBytes(old);
      this.answers.clear();
    }
    this.answers.set(key, made);
    this.bytes += delta;
    this.owner?.resized(delta);
    return made;
  }

  /** Redis' clock now, as far as this server can tell (for "3 minutes ago"). */
  now(): number {
    return this.job.readAt + (performance.now() - this.sentAt);
  }
}

/** The entries by job id, least recently used first (a Map keeps insertion order; a use moves its entry to the end). */
export class Entries {
  private readonly entries = new Map<string, Entry>();
  /** The entries' bytes, their answers' included. */
  bytes = 0;
  /** Entries dropped to stay within the bounds. */
  evictions = 0;

  constructor(private readonly bounds: { maxEntries: number; maxBytes: number }) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string): Entry | undefined {
    return this.entries.get(id);
  }

  /** A use of an entry: it goes last out. */
  touch(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.entries.set(id, entry);
  }

  /** Keeps an entry (in place of the job's older one), then drops the least recently used beyond the bounds. */
  keep(id: string, entry: Entry): void {
    const { maxEntries, maxBytes } = this.bounds;
    if (entry.bytes > maxBytes) return;
    const old = this.entries.get(id);
    if (old) this.remove(id, old);
    entry.owner = this;
    this.entries.set(id, entry);
    this.bytes += entry.bytes;
    if (this.entries.size > maxEntries) this.evictOne();
    this.evict();
  }

  /** Removes the job's entry if it is still this one; whether it was. */
  remove(id: string, entry: Entry): boolean {
    if (this.entries.get(id) !== entry) return false;
    this.entries.delete(id);
    entry.owner = null;
    this.bytes -= entry.bytes;
    return true;
  }

  clear(): void {
    for (const [id, entry] of this.entries) this.remove(id, entry);
    this.bytes = 0;
  }

  /** An entry's answers grew or shrank. */
  resized(delta: number): void {
    this.bytes += delta;
    this.evict();
  }

  private evict(): void {
    while (this.bytes > this.bounds.maxBytes && this.entries.size > 0) this.evictOne();
  }

  private evictOne(): void {
    const first = this.entries.entries().next();
    if (first.done) return;
    this.remove(first.value[0], first.value[1]);
    this.evictions++;
  }
}

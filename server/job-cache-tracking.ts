// The job cache's invalidation stream (job-cache.ts says how the cache stays
// correct): CLIENT TRACKING turned on for the reader and redirected to the
// subscriber, once both connections are ready on the same Redis server; the
// invalidations passed on; the PINGs that confirm the stream complete; and
// any lost connection, which turns it off until it is on again.
import type { Redis } from "ioredis";

/** The channel Redis sends invalidations on to a redirected tracking client. */
export const INVALIDATE_CHANNEL = "__redis__:invalidate";
/**
 * How long an entry may be served after the invalidation stream was last
 * confirmed complete (a PONG): the freshness bound when invalidations stop
 * coming without the connection closing.
 */
export const CONFIRM_MS = 1000;
/** No PONG for this long: the subscriber reconnects (a half-open connection). */
const PING_GIVE_UP_MS = 5 * CONFIRM_MS;
/**
 * No entry asked for in this many confirmMs: the stream stops confirming
 * itself (no PINGs) until one is. An idle instance sends Redis nothing; the
 * first poll after the quiet reads Redis (its entries are not confirmed),
 * and the PINGs resume with it.
 */
const IDLE_CONFIRMS = 10;
/** After a failed start of tracking (both connections not on the same server), try again this much later. */
const RETRY_MS = 1000;

/** What the stream tells the cache. */
export interface TrackingEvents {
  /** Tracking is on (the first time, or again after a loss): reads from now on may be kept. */
  enabled(): void;
  /** A connection was lost, or the stream closed: nothing read before may be served. */
  lost(): void;
  /** Redis says these keys changed; null: any key may have (FLUSHALL, FLUSHDB, or its tracking table is full). */
  invalidated(keys: string[] | null): void;
}

export class InvalidationStream {
  /** Tracking is on, redirected to the subscriber, and both connections are ready. */
  private on = false;
  /** Bumped by every lost connection: a start of tracking begun before it gives up. */
  private attempt = 0;
  /** performance.now() when the last answered PING was sent: every invalidation sent before has arrived. */
  private confirmedAt = -Infinity;
  private pingSentAt: number | null = null;
  /** performance.now() when an entry was last asked for (wanted), and when the PINGs last resumed after a quiet. */
  private wantedAt = -Infinity;
  private pingingSince = -Infinity;
  /** The subscriber's client id once it has subscribed, on its current connection. */
  private subscriberId: string | null = null;
  private subscriberServer = "";
  private readonly pinger: NodeJS.Timeout;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly unlisten: (() => void)[] = [];

  constructor(
    private readonly reader: Redis,
    private readonly subscriber: Redis,
    private readonly confirmMs: number,
    private readonly log: (message: string) => void,
    private readonly events: TrackingEvents,
  ) {
    const lost = () => this.lost();
    const ready = () => void this.enable();
    for (const redis of [reader, subscriber]) {
      for (const event of ["close", "reconnecting", "end"]) this.listen(redis, event, lost);
      this.listen(redis, "ready", ready);
    }
    // A new connection is a new client: it has to subscribe again (under a new id).
    this.listen(subscriber, "close", () => (this.subscriberId = null));
    this.listen(subscriber, "messageBuffer", (channel: Buffer, message: unknown) => {
      if (channel.toString() !== INVALIDATE_CHANNEL) return;
      // null: Redis flushed its keys (FLUSHALL, FLUSHDB), or its tracking table is full.
      this.events.invalidated(Array.isArray(message) ? (message as Buffer[]).map((key) => key.toString()) : null);
    });
    this.pinger = setInterval(() => this.ping(), Math.max(10, Math.floor(confirmMs / 4)));
    this.pinger.unref();
    void this.enable();
  }

  /** Tracking is on and both connections are ready. */
  get active(): boolean {
    return this.on;
  }

  /** An entry was asked for: the stream confirms itself while they are (a PING every confirmMs / 4), and at once after a quiet. */
  wanted(now = performance.now()): void {
    const quiet = now - this.wantedAt > IDLE_CONFIRMS * this.confirmMs;
    this.wantedAt = now;
    if (quiet) {
      this.pingingSince = now;
      this.ping();
    }
  }

  /** Every invalidation of a read sent at sentAt has arrived, as of CONFIRM_MS before now (both performance.now()). */
  confirmed(sentAt: number, now: number): boolean {
    return Math.max(this.confirmedAt, sentAt) >= now - this.confirmMs;
  }

  /** Stops: no more pings, no more events but the last lost(); the connections are the caller's to close. */
  close(): void {
    this.closed = true;
    clearInterval(this.pinger);
    if (this.retry) clearTimeout(this.retry);
    for (const off of this.unlisten) off();
    this.lost();
  }

  private listen(redis: Redis, event: string, fn: (...args: never[]) => void): void {
    const listener = fn as (...args: unknown[]) => void;
    redis.on(event, listener);
    this.unlisten.push(() => redis.off(event, listener));
  }

  private lost(): void {
    this.attempt++;
    this.pingSentAt = null;
    this.confirmedAt = -Infinity;
    // Closing ends tracking on purpose: a clean stop writes no warning.
    if (this.on && !this.closed) this.log("status cache: a Redis connection was lost; reads go to Redis until tracking is on again");
    this.on = false;
    this.events.lost();
  }

  /** Turns tracking on once both connections are ready, redirected to the subscriber. */
  private async enable(): Promise<void> {
    if (this.closed || this.on) return;
    const attempt = ++this.attempt;
    if (this.reader.status !== "ready" || this.subscriber.status !== "ready") return;
    const current = () => attempt === this.attempt && !this.closed;
    try {
      // Subscribed (RESP2), the subscriber can send nothing but (un)subscribe and PING: ask its id first.
      if (this.subscriberId === null) {
        const [id, server] = await Promise.all([this.subscriber.client("ID"), serverOf(this.subscriber)]);
        if (!current()) return;
        await this.subscriber.subscribe(INVALIDATE_CHANNEL);
        [this.subscriberId, this.subscriberServer] = [String(id), server];
      }
      const readerServer = await serverOf(this.reader);
      if (!current()) return;
      if (readerServer !== this.subscriberServer) {
        // A failover under way: the subscriber reconnects, and finds the current server.
        this.subscriber.disconnect(true);
        throw new Error("the reader and the subscriber reached different Redis servers");
      }
      await this.reader.call("CLIENT", "TRACKING", "ON", "REDIRECT", this.subscriberId);
      if (!current()) return;
      this.on = true;
      this.confirmedAt = performance.now();
      this.events.enabled();
    } catch (err) {
      if (!current()) return;
      this.log(`status cache: cannot turn client tracking on (${(err as Error).message}); reads go to Redis, trying again`);
      this.retry ??= setTimeout(() => {
        this.retry = null;
        void this.enable();
      }, RETRY_MS);
      this.retry.unref();
    }
  }

  private ping(): void {
    if (!this.on) return;
    const now = performance.now();
    // Nobody asks for entries: nothing to confirm.
    if (now - this.wantedAt > IDLE_CONFIRMS * this.confirmMs) return;
    // No PONG for long since the PINGs (re)started (each PING gives up after the
    // command timeout): the connection may be half-open. Reconnecting it flushes and starts over.
    if (now - Math.max(this.confirmedAt, this.pingingSince) > PING_GIVE_UP_MS) {
      this.subscriber.disconnect(true);
      return;
    }
    if (this.pingSentAt !== null) return;
    const sentAt = (this.pingSentAt = now);
    const attempt = this.attempt;
    this.subscriber.ping().then(
      () => {
        if (attempt !== this.attempt) return;
        this.pingSentAt = null;
        this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      },
      () => {
        if (attempt === this.attempt) this.pingSentAt = null;
      },
    );
  }
}

/** Which Redis server a connection reached (its run id). */
async function serverOf(redis: Redis): Promise<string> {
  const info = await redis.info("server");
  return /run_id:(\w+)/.exec(info)?.[1] ?? "";
}

// One log line per request, except status polls: every open status page asks
// every 2 s, so polls are counted (PollTally) and written as one line a
// minute, "N status polls served". The request listener's fast path adds
// one to the count and does nothing else; the Koa route counts the polls it
// answers here.
import type { Middleware } from "koa";
import type { Logger } from "./log.ts";
import { matchStatusPoll } from "./urls.ts";

/** How often the count of status polls is written, when there were any. */
export const POLL_SUMMARY_EVERY_MS = 60_000;

/** Status polls served by this instance: a plain counter, and a line a minute. */
export class PollTally {
  /** Polls answered so far: the request listener and the Koa route each add one per poll. */
  served = 0;
  private logged = 0;
  private windowStart: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly everyMs = POLL_SUMMARY_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.windowStart = now();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), this.everyMs);
    this.timer.unref();
  }

  /** Writes the polls served since the last line, if any, and starts a new window. */
  flush(): void {
    const polls = this.served - this.logged;
    const windowS = Math.round((this.now() - this.windowStart) / 1000);
    if (polls > 0)
      this.logger.info({ polls, windowS }, `${polls} status ${polls === 1 ? "poll" : "polls"} served in the last ${windowS} s`);
    this.logged = this.served;
    this.windowStart = this.now();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }
}

/**
 * Logs each request once it is answered: method, path (never the query
 * string, which may hold a form's values), status and milliseconds. First in
 * the chain, so the status is the one the error handler chose.
 */
export function requestLog(logger: Logger, polls: PollTally): Middleware {
  return async function logRequest(ctx, next) {
    if (ctx.method === "GET" && matchStatusPoll(ctx.url)) {
      polls.served++;
      await next();
      return;
    }
    const start = performance.now();
    let status: number | undefined;
    try {
      await next();
    } catch (err) {
      status = (err as { status?: number })?.status ?? 500;
      throw err;
    } finally {
      const ms = Math.round((performance.now() - start) * 10) / 10;
      status ??= ctx.status;
      // Why, where the error handler was told (an HttpError's logNote).
      const note = ctx.state.logNote as string | undefined;
      const line = `${ctx.method} ${ctx.path} ${status} ${ms} ms`;
      logger.info({ method: ctx.method, path: ctx.path, status, ms, ...(note ? { note } : {}) }, note ? `${line}: ${note}` : line);
    }
  };
}

// What the server writes to its log, and what it keeps out of it.
//
// The log is pino's: one JSON object per line on standard output
// (LOG_FORMAT=json, the default), or pino-pretty's coloured lines for people
// (LOG_FORMAT=pretty), at LOG_LEVEL and above. main.ts makes the one logger
// from the settings and hands it to every part that writes.
//
// A stack trace in the log means a bug in sidejob. What clients do is not a
// bug: aborted requests, reset connections, malformed requests and request
// timeouts are counted and written as one summary line at most once a
// minute (ClientErrors), never one line each. A failure that repeats (Redis
// unreachable) is written when it starts, then at most every 30 s while it
// lasts, and once when it ends (RepeatedWarning).
import { pino, type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Fields on every line (the instance id). */
  base?: Record<string, unknown>;
}

/**
 * The server's logger: JSON lines on standard output, or pretty ones.
 * Writes are synchronous, so what was logged before an exit is not lost.
 */
export function createLogger({ logLevel, logFormat, base = {} }: LoggerOptions, destination?: DestinationStream): Logger {
  const options = { level: logLevel, base, timestamp: pino.stdTimeFunctions.isoTime };
  if (destination) return pino(options, destination);
  if (logFormat === "pretty") return pino(options, pretty({ sync: true, colorize: process.stdout.isTTY, destination: 1 }));
  return pino(options, pino.destination({ dest: 1, sync: true }));
}

/** A logger that writes nothing (for parts built without one, and for tests that do not read the log). */
export const silentLogger: Logger = pino({ level: "silent" });

/** A function that takes a plain message, for the parts that write one now and then. */
export type LogLine = (message: string) => void;

/** A LogLine that writes warnings through the logger. */
export const warnLine =
  (logger: Logger): LogLine =>
  (message) =>
    logger.warn(message);

/** How often a repeated failure is written again while it lasts. */
export const REPEAT_EVERY_MS = 30_000;
/** How often the client error counts are written, when there were any. */
export const CLIENT_ERRORS_EVERY_MS = 60_000;

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * One failure that may repeat many times a second: a warning when it starts,
 * then at most every `everyMs` ("still failing after N s"), and one info line
 * when it stops ("recovered after N s"). Each line names the warning
 * (`warning`), how long it has lasted (`failingS`) and the failures so far.
 */
export class RepeatedWarning {
  private since: number | null = null;
  private lastWritten = 0;
  /** Failures in the current spell (0 while it works). */
  failures = 0;

  constructor(
    private readonly what: string,
    private readonly logger: Logger = silentLogger,
    private readonly everyMs = REPEAT_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get failing(): boolean {
    return this.since !== null;
  }

  failed(err: unknown): void {
    const now = this.now();
    this.failures++;
    if (this.since === null) {
      this.since = this.lastWritten = now;
      this.logger.warn({ warning: this.what, error: messageOf(err), failingS: 0, failures: 1 }, `${this.what}: ${messageOf(err)}`);
    } else if (now - this.lastWritten >= this.everyMs) {
      this.lastWritten = now;
      this.logger.warn(
        { warning: this.what, error: messageOf(err), failingS: Math.round((now - this.since) / 1000), failures: this.failures },
        `${this.what}: still failing after ${seconds(now - this.since)} (${messageOf(err)})`,
      );
    }
  }

  succeeded(): void {
    if (this.since === null) return;
    const ms = this.now() - this.since;
    this.logger.info(
      { warning: this.what, recovered: true, failingS: Math.round(ms / 1000), failures: this.failures },
      `${this.what}: recovered after ${seconds(ms)}`,
    );
    this.since = null;
    this.failures = 0;
  }
}

/**
 * Error codes a client causes by going away or sending something broken:
 * normal on the internet, counted, never a stack trace.
 */
const CLIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
  "ERR_HTTP_REQUEST_TIMEOUT",
  "ERR_HTTP_HEADERS_SENT",
]);

/** The counting key of an error a client caused (its code), or null for anything else. */
export function clientErrorCode(err: unknown): string | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== "object") return null;
  const code = typeof e.code === "string" ? e.code : "";
  if (CLIENT_CODES.has(code) || code.startsWith("HPE_")) return code;
  if (e.message === "aborted" || e.message === "request aborted") return "aborted";
  return null;
}

/**
 * Counts client errors by code and writes them as one line, at most every
 * CLIENT_ERRORS_EVERY_MS: "client errors in the last 60 s: 3 ECONNRESET, 1 HPE_INVALID_METHOD".
 */
export class ClientErrors {
  private readonly counts = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private windowStart = Date.now();
  total = 0;

  constructor(
    private readonly logger: Logger = silentLogger,
    private readonly everyMs = CLIENT_ERRORS_EVERY_MS,
  ) {}

  count(code: string): void {
    this.total++;
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.everyMs);
      this.timer.unref();
    }
  }

  /** Writes the counts so far (if any) and starts a new window. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.counts.size > 0) {
      const parts = [...this.counts].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${n} ${code}`);
      this.logger.warn(
        { clientErrors: Object.fromEntries(this.counts), windowS: Math.round((Date.now() - this.windowStart) / 1000) },
        `client errors in the last ${seconds(Date.now() - this.windowStart)}: ${parts.join(", ")}`,
      );
    }
    this.counts.clear();
    this.windowStart = Date.now();
  }
}

/** Writes an error that is not a client's: with its stack (pino's `err`), since it is a bug to fix. */
export function logBug(err: unknown, logger: Logger): void {
  if (err instanceof Error) logger.error({ err }, err.message);
  else logger.error(String(err));
}

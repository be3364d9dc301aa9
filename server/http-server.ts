// The HTTP server around the request listener, with the limits that keep one
// client (or a few thousand) from taking it down. createInstance()
// (instance.ts) builds it here, for main.ts and the tests alike.
//
// What Node 20's http server does by itself, and what is added:
// - Pipelining. Node parses every request that has arrived on a connection
//   and emits each at once, answering them in order; it stops reading only
//   once responses already written are waiting in memory. A client that
//   pipelines 1,000 requests and never reads gets 1,000 handlers running at
//   once, each holding its answer in memory. Here each connection has one
//   request in flight: a request that arrives while another is in flight
//   waits (the socket is paused, so nothing more is read or parsed), the
//   next one starts only once the previous response has been handed to the
//   socket and the socket has drained, and a connection with more than
//   MAX_PIPELINED requests waiting is closed. Node's parser is given what a
//   read brought one request head at a time (parseHeadByHead): once the
//   connection is closed, the rest of the read is never parsed.
// - Work in flight. At most MAX_IN_FLIGHT requests are handled at once;
//   beyond that a request gets a 503 with Retry-After at once, from here,
//   without a Redis command.
// - Host. A request whose Host is not allowed (hosts.ts) gets 421 before
//   anything else looks at it, the status poll's fast path included.
// - Timeouts, from Node's own settings (values and reasons at each below),
//   but for the whole request's: a request's body must arrive within
//   requestTimeoutMs (REQUEST_TIMEOUT_MS) of its headers, unless the route
//   that reads it lifts that deadline (liftRequestDeadline): an upload on a
//   slow link keeps going as long as bytes keep coming, and its reader
//   (uploads.ts) stops it once none came for UPLOAD_IDLE_TIMEOUT_MS. Node's
//   own requestTimeout applies to every request alike, so it is off.
// - Errors. Malformed requests, resets and timeouts are counted (log.ts),
//   answered as Node would (400, 408, 431) and never logged one by one. An
//   `error` on the listening server after it started (EMFILE on accept when
//   file descriptors run out) is logged and the server carries on.
import fs from "node:fs";
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { hostChecker, type AllowedHosts } from "./hosts.ts";
import { ClientErrors, logBug, RepeatedWarning, silentLogger, type Logger } from "./log.ts";
import { SECURITY_HEADERS } from "./security.ts";

export const HTTP_LIMITS = {
  /** Requests handled at once by this server; beyond it a fast 503. */
  MAX_IN_FLIGHT: 256,
  /**
   * Commands the web Redis connection waits for at once (the store's
   * maxInFlight): a page read beyond it is a 503 at once.
   */
  REDIS_MAX_IN_FLIGHT: 512,
  /** Requests that may wait behind the one in flight on one connection; one more closes it. */
  MAX_PIPELINED: 16,
  /**
   * Time to receive a request's headers, counted from the connection's
   * start (a connection that sends nothing is closed after it too). Node's
   * default is 60 s; a browser sends its headers at once.
   */
  HEADERS_TIMEOUT_MS: 10_000,
  /**
   * Time to receive a request's body once its headers are in (Node's own
   * limit, on headers and body together, is 300 s): the default of
   * REQUEST_TIMEOUT_MS. Forms are a few KB; an upload lifts it.
   */
  REQUEST_TIMEOUT_MS: 20_000,
  /** How often Node checks the two above (Node: 30 s, which would let them run 30 s late). */
  CONNECTIONS_CHECK_MS: 1_000,
  /**
   * An idle keep-alive connection is closed after this (Node's default, kept:
   * longer than the 2 s between two status polls, so a page polls on one connection).
   */
  KEEP_ALIVE_TIMEOUT_MS: 5_000,
  /**
   * A connection with nothing read or written for this long is closed: this
   * is what frees a connection whose client does not read its answer (the
   * write stays stuck). Node's default is no limit.
   */
  SOCKET_IDLE_TIMEOUT_MS: 30_000,
  /** Headers per request (Node: 2,000) and their total size (Node's default, 16 KB). */
  MAX_HEADERS_COUNT: 100,
  MAX_HEADER_SIZE: 16 * 1024,
  /** Connections at once: at most half the file descriptors this process may open, and at most this. */
  MAX_CONNECTIONS: 10_000,
} as const;

/** Seconds a client is told to wait after a 503 for too many requests at once. */
export const BUSY_RETRY_AFTER_S = 2;

export interface HttpServerOptions {
  allowedHosts: AllowedHosts;
  logger?: Logger;
  /** REQUEST_TIMEOUT_MS: the time a request has to send its body, unless its route lifts it (default HTTP_LIMITS.REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

/** The whole-request deadline of each request whose body is still arriving. */
const bodyDeadlines = new WeakMap<IncomingMessage, NodeJS.Timeout>();

/**
 * Lifts a request's whole-request deadline: its body may take as long as it
 * needs, and the caller stops it when it stalls (for uploads: uploads.ts,
 * after idleMs without a byte). The connection's idle limit is raised to
 * more than idleMs, so that the caller's answer, not a bare close, ends a stall.
 */
export function liftRequestDeadline(req: IncomingMessage, idleMs: number): void {
  clearTimeout(bodyDeadlines.get(req));
  bodyDeadlines.delete(req);
  if (idleMs + HTTP_LIMITS.CONNECTIONS_CHECK_MS > HTTP_LIMITS.SOCKET_IDLE_TIMEOUT_MS)
    req.socket.setTimeout(idleMs + HTTP_LIMITS.CONNECTIONS_CHECK_MS + HTTP_LIMITS.SOCKET_IDLE_TIMEOUT_MS);
}

export interface HttpServer extends http.Server {
  /** Client errors counted so far, and the requests refused for being too many. */
  readonly stats: { clientErrors: number; busy: number; hostRefused: number; inFlight: number };
}

/** This process's limit on open file descriptors (its soft RLIMIT_NOFILE), or null if unknown. */
export function fileDescriptorLimit(): number | null {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"));
    return line && line[1] !== "unlimited" ? Number(line[1]) : null;
  } catch {
    return null;
  }
}

function plain(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Destroys a connection that sent far more requests than it waited for.
 * When the socket closes, Node aborts each request it has parsed with a new
 * Error, whose stack trace costs more than all the rest (a CPU profile
 * under a pipelining flood, when Node still parsed a whole read of a
 * thousand requests: a third of the server's time). Those errors reach no
 * one, so they are made without a stack: the limit is lowered just around
 * Node's own close handler, which runs synchronously between the two
 * listeners added here.
 */
function closeQuietly(socket: Socket): void {
  let limit = Error.stackTraceLimit;
  socket.prependOnceListener("close", () => {
    limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  });
  socket.once("close", () => {
    Error.stackTraceLimit = limit;
  });
  socket.destroy();
}

/** Where a request's head ends (Node refuses a head whose lines end in a bare LF). */
const HEAD_END = Buffer.from("\r\n\r\n");

/**
 * Node parses everything one read brought (up to 64 KB) in one call, and
 * makes a request and a response for each request in it, even once a
 * handler has closed the connection at the first of them; they all live
 * until the close is handled, in a later phase of the event loop. One read
 * of a client that pipelines small requests holds about 1,000 of them, and
 * under a flood of such connections, whose reads arrive together, up to
 * 74,000 were alive at once (the large-pages test on a busy machine: the
 * heap went from 40 MB to 175 MB of its 192). Here Node's own feed of its parser (its socket's only
 * "data" listener) is given a read one request head at a time, and nothing
 * more once the socket is destroyed. The parser takes a read cut anywhere:
 * a body, or a head split between two reads, goes through as it comes.
 * While Node has paused the socket (its answers are not being read: its
 * feed asserts it is not paused), the rest of the read is put back, and
 * comes again once Node resumes it.
 */
function parseHeadByHead(socket: Socket): void {
  const feeds = socket.listeners("data");
  // Not Node 20's layout (one listener, its parser's feed): Node's own reading is left as it is.
  if (feeds.length !== 1) return;
  const parse = feeds[0] as (chunk: Buffer) => void;
  socket.removeListener("data", parse);
  // Node reads a socket with a "data" listener through the stream, not in C++ straight into its parser.
  socket.on("data", (chunk: Buffer) => {
    let from = 0;
    for (;;) {
      const end = chunk.indexOf(HEAD_END, from);
      const to = end === -1 ? chunk.length : end + HEAD_END.length;
      parse(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
      from = to;
      if (from >= chunk.length || socket.destroyed) return;
      // Node's own flag (its feed asserts it is false); were it renamed, the condition Node pauses on.
      if ((socket as Socket & { _paused?: boolean })._paused === true || (socket.isPaused() && socket.writableNeedDrain)) {
        socket.unshift(chunk.subarray(from));
        return;
      }
    }
  });
}

interface Connection {
  busy: boolean;
  waiting: [IncomingMessage, ServerResponse][];
}

export function createHttpServer(
  listener: RequestListener,
  { allowedHosts, logger = silentLogger, requestTimeoutMs = HTTP_LIMITS.REQUEST_TIMEOUT_MS }: HttpServerOptions,
): HttpServer {
  const L = HTTP_LIMITS;
  const server = http.createServer({
    headersTimeout: L.HEADERS_TIMEOUT_MS,
    // Off: it would cut off an upload on a slow link too. The body's deadline is set per request (run()).
    requestTimeout: 0,
    connectionsCheckingInterval: L.CONNECTIONS_CHECK_MS,
    keepAliveTimeout: L.KEEP_ALIVE_TIMEOUT_MS,
    maxHeaderSize: L.MAX_HEADER_SIZE,
  }) as HttpServer;
  server.timeout = L.SOCKET_IDLE_TIMEOUT_MS;
  server.maxHeadersCount = L.MAX_HEADERS_COUNT;
  // Not used: maxRequestsPerSocket. One request in flight per connection
  // bounds what a connection costs; a page that polls for an hour on one
  // keep-alive connection is the normal case, not one to cut.
  const fds = fileDescriptorLimit();
  server.maxConnections = fds ? Math.max(16, Math.min(L.MAX_CONNECTIONS, Math.floor(fds / 2))) : L.MAX_CONNECTIONS;

  const clientErrors = new ClientErrors(logger);
  const stats = { clientErrors: 0, busy: 0, hostRefused: 0, inFlight: 0 };
  Object.defineProperty(server, "stats", { value: stats });
  const countClientError = (code: string) => {
    stats.clientErrors++;
    clientErrors.count(code);
  };

  const hostAllowed = hostChecker(allowedHosts, () => {
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  });

  const connections = new WeakMap<Socket, Connection>();
  server.on("connection", parseHeadByHead);

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (!hostAllowed(req.headers.host)) {
      stats.hostRefused++;
      plain(res, 421, "This server does not answer for that host name.");
      return;
    }
    if (stats.inFlight >= L.MAX_IN_FLIGHT) {
      stats.busy++;
      plain(res, 503, "Too many requests at once. Please try again in a moment.", { "Retry-After": String(BUSY_RETRY_AFTER_S) });
      return;
    }
    stats.inFlight++;
    res.once("close", () => stats.inFlight--);
    listener(req, res);
  }

  function run(socket: Socket, conn: Connection, req: IncomingMessage, res: ServerResponse): void {
    conn.busy = true;
    res.once("close", () => next(socket, conn));
    // Handled once Node has parsed all that arrived with it: a connection
    // closed meanwhile for pipelining too much costs no Redis read at all.
    setImmediate(() => {
      if (socket.destroyed) return;
      if (!req.complete) bodyDeadline(socket, req, res);
      try {
        handle(req, res);
      } catch (err) {
        // The listener does not throw (Koa catches); if it did, this connection must not stall.
        logBug(err, logger);
        res.destroy();
      }
    });
  }

  function next(socket: Socket, conn: Connection): void {
    if (socket.destroyed) {
      conn.waiting.length = 0;
      return;
    }
    // The answer must have left for the client before the next request is
    // handled: a client that does not read holds one answer, not a thousand.
    if (socket.writableNeedDrain) {
      socket.once("drain", () => next(socket, conn));
      return;
    }
    const waiting = conn.waiting.shift();
    if (!waiting) {
      conn.busy = false;
      socket.resume();
      return;
    }
    if (conn.waiting.length === 0) socket.resume();
    run(socket, conn, waiting[0], waiting[1]);
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (socket.destroyed) return;
    let conn = connections.get(socket);
    if (!conn) connections.set(socket, (conn = { busy: false, waiting: [] }));
    if (!conn.busy) {
      run(socket, conn, req, res);
      return;
    }
    if (conn.waiting.length >= L.MAX_PIPELINED) {
      countClientError("too many pipelined requests");
      conn.waiting.length = 0;
      closeQuietly(socket);
      return;
    }
    conn.waiting.push([req, res]);
    socket.pause();
  });

  /** The body must have arrived within requestTimeoutMs, or the request is answered as Node's own request timeout would. */
  function bodyDeadline(socket: Socket, req: IncomingMessage, res: ServerResponse): void {
    const timer = setTimeout(() => {
      bodyDeadlines.delete(req);
      if (req.complete || socket.destroyed) return;
      refuse(Object.assign(new Error("request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }), socket);
    }, requestTimeoutMs);
    bodyDeadlines.set(req, timer);
    const clear = () => {
      clearTimeout(timer);
      bodyDeadlines.delete(req);
    };
    req.once("end", clear);
    res.once("close", clear);
  }

  function refuse(err: NodeJS.ErrnoException, socket: Socket): void {
    countClientError(err.code ?? "clientError");
    // What Node answers when nobody listens for clientError, without its stack.
    if (socket.writable && !(socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      const [status, reason] =
        err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? [408, "Request Timeout"]
          : err.code === "HPE_HEADER_OVERFLOW"
            ? [431, "Request Header Fields Too Large"]
            : [400, "Bad Request"];
      if (err.code !== "ECONNRESET") socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  }
  server.on("clientError", refuse);

  // Before it listens, an error is the caller's (main.ts stops on it); after,
  // it is an accept that failed (EMFILE): written once per spell, not fatal.
  const acceptFailing = new RepeatedWarning("cannot accept connections", logger);
  server.once("listening", () => {
    server.on("error", (err) => acceptFailing.failed(err));
    server.on("connection", () => {
      if (acceptFailing.failing) acceptFailing.succeeded();
    });
  });
  return server;
}

// A minimal Redis connection for the status poll, the request a server sees
// most: one socket speaking RESP2, commands of the same event-loop turn sent
// in one write, replies matched in order. It only runs the job store's own
// READ script: pollStore() wraps it in a JobStore, so the keys, the arguments
// and the parsing of the reply stay the store's.
//
// Why: measured in one process, a store.read() cost 30-55 us of CPU through
// ioredis and 8-11 us through this connection (command objects, the RESP3
// decoder and per-reply buffers are most of the difference); the reply parser
// below reads numbers from the bytes (a READ reply: 1.7-3 us instead of
// 4.5-7.5 us with toString per line). End to end (bench/profile.ts): server
// CPU per poll 84-102 us -> 43-45 us, Redis' own CPU per poll 16-19 -> 13 us.
//
// It fails fast and never retries: a poll it cannot answer (Redis down,
// timeout, a reply it does not expect, NOSCRIPT after a Redis restart) is
// answered by the usual Koa route through ioredis, which also reloads scripts.
import crypto from "node:crypto";
import net from "node:net";
import { JobStore, type StoreOptions } from "../jobs/store.ts";

const COMMAND_TIMEOUT_MS = 1500;
const RECONNECT_AFTER_MS = 1000;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  at: number;
}

export class ReplyError extends Error {
  override name = "ReplyError";
}

/** Where to connect, from a redis:// or unix:// URL; null for anything else (rediss://: TLS is not supported here). */
export function pollTarget(url: string): { connect: net.NetConnectOpts; setup: string[][] } | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const setup: string[][] = [];
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  if (password) setup.push(user ? ["AUTH", user, password] : ["AUTH", password]);
  let db: string | null = null;
  let connect: net.NetConnectOpts;
  if (parsed.protocol === "redis:") {
    connect = { host: parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", port: Number(parsed.port || 6379) };
    db = parsed.pathname.slice(1) || null;
  } else if (parsed.protocol === "unix:") {
    connect = { path: decodeURIComponent(parsed.pathname) };
    db = parsed.searchParams.get("db");
  } else {
    return null;
  }
  if (db && db !== "0") setup.push(["SELECT", db]);
  return { connect, setup };
}

function encode(args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

const INCOMPLETE = Symbol("incomplete");

// Buffer's own slice methods, without toString()'s encoding dispatch (a poll reply holds ~40 strings).
const utf8 = (buf: Buffer, start: number, end: number): string =>
  (buf as unknown as { utf8Slice(s: number, e: number): string }).utf8Slice(start, end);

/** One RESP2 value at pos: [value, next pos], or INCOMPLETE. */
function parse(buf: Buffer, pos: number): [unknown, number] | typeof INCOMPLETE {
  const type = buf[pos];
  if (type === 0x24 || type === 0x2a || type === 0x3a) {
    // $ bulk string, * array, : integer: a decimal number, read without making a string of it.
    let i = pos + 1;
    let negative = false;
    if (buf[i] === 0x2d) {
      negative = true;
      i++;
    }
    let n = 0;
    for (let c = buf[i]; c !== 13; c = buf[++i]) {
      if (c === undefined) return INCOMPLETE;
      n = n * 10 + (c - 48);
    }
    if (i + 1 >= buf.length) return INCOMPLETE;
    if (negative) n = -n;
    let next = i + 2;
    if (type === 0x3a) return [n, next];
    if (n < 0) return [null, next];
    if (type === 0x24) return next + n + 2 > buf.length ? INCOMPLETE : [utf8(buf, next, next + n), next + n + 2];
    const items = new Array<unknown>(n);
    for (let k = 0; k < n; k++) {
      const item = parse(buf, next);
      if (item === INCOMPLETE) return INCOMPLETE;
      items[k] = item[0];
      next = item[1];
    }
    return [items, next];
  }
  const cr = buf.indexOf(13, pos);
  if (cr < 0 || cr + 1 >= buf.length) return INCOMPLETE;
  const line = utf8(buf, pos + 1, cr);
  if (type === 0x2b) return [line, cr + 2]; // + simple string
  if (type === 0x2d) return [new ReplyError(line), cr + 2]; // - error
  throw new Error(`unexpected RESP type byte ${type}`);
}

export class PollConnection {
  private socket: net.Socket | null = null;
  private readonly pending: Pending[] = [];
  private out: string[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  /** Buffered bytes at the last incomplete parse: parse again only once it has doubled (large replies). */
  private retryAt = 0;
  private failedAt = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly target: { connect: net.NetConnectOpts; setup: string[][] }) {
    this.timer = setInterval(() => {
      const oldest = this.pending[0];
      if (oldest && Date.now() - oldest.at > COMMAND_TIMEOUT_MS) this.socket?.destroy(new Error("Redis did not answer in time"));
    }, 500);
    this.timer.unref();
  }

  call(args: string[]): Promise<unknown> {
    if (!this.socket && !this.open()) return Promise.reject(new Error("Redis connection unavailable"));
    return new Promise((resolve, reject) => this.send(encode(args), { resolve, reject, at: Date.now() }));
  }

  close(): void {
    clearInterval(this.timer);
    this.socket?.destroy();
  }

  private send(command: string, pending: Pending): void {
    if (this.out.length === 0) setImmediate(() => this.flush());
    this.out.push(command);
    this.pending.push(pending);
  }

  private flush(): void {
    if (this.out.length === 0) return;
    const data = this.out.join("");
    this.out = [];
    if (this.socket) this.socket.write(data);
  }

  private open(): boolean {
    if (Date.now() - this.failedAt < RECONNECT_AFTER_MS) return false;
    const socket = net.connect(this.target.connect);
    socket.setNoDelay(true);
    // The status poll connection never keeps the process alive.
    socket.unref();
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.retryAt = 0;
    socket.on("data", (data) => this.onData(data));
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.socket === socket) this.socket = null;
      this.failedAt = Date.now();
      this.out = [];
      for (const p of this.pending.splice(0)) p.reject(new Error("Redis connection closed"));
    });
    for (const command of this.target.setup) {
      this.send(encode(command), {
        resolve: () => {},
        reject: () => socket.destroy(),
        at: Date.now(),
      });
    }
    return true;
  }

  private onData(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    if (this.buffer.length < this.retryAt) return;
    let pos = 0;
    try {
      while (pos < this.buffer.length) {
        const reply = parse(this.buffer, pos);
        if (reply === INCOMPLETE) break;
        pos = reply[1];
        const p = this.pending.shift();
        if (!p) throw new Error("a reply nobody asked for");
        if (reply[0] instanceof ReplyError) p.reject(reply[0]);
        else p.resolve(reply[0]);
      }
    } catch {
      this.socket?.destroy();
      return;
    }
    this.buffer = pos === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(pos);
    this.retryAt = this.buffer.length > 64 * 1024 ? this.buffer.length * 2 : 0;
  }
}

/**
 * A JobStore whose script calls go through a PollConnection (EVALSHA of the
 * store's own Lua); use only its read(). Null when the URL is not supported.
 */
export function pollStore(url: string, options: StoreOptions): { store: JobStore; close(): void } | null {
  const target = pollTarget(url);
  if (!target) return null;
  const connection = new PollConnection(target);
  const client: Record<string, unknown> = {
    // JobStore defines its scripts on the client it is given; here each
    // becomes an EVALSHA over the poll connection.
    defineCommand(name: string, { lua, numberOfKeys }: { lua: string; numberOfKeys: number }) {
      const sha = crypto.createHash("sha1").update(lua).digest("hex");
      client[name] = (...flat: (string | number)[]) => connection.call(["EVALSHA", sha, String(numberOfKeys), ...flat.map(String)]);
    },
  };
  const store = new JobStore(client as never, options);
  return { store, close: () => connection.close() };
}

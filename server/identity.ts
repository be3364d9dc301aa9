// Who is asking: sign-in through the site's own single sign-on, in front of
// sidejob as a reverse proxy (oauth2-proxy, Shibboleth, nginx auth_request,
// Authelia...), which passes the signed-in person in request headers. sidejob
// has no accounts of its own.
//
// The headers are believed only from the proxies TRUSTED_PROXIES lists, by
// the address of the connection itself (never X-Forwarded-For, which anyone
// can send): a request from anywhere else is anonymous, whatever headers it
// carries. Without TRUSTED_USER_HEADER, every request is anonymous, as
// before.
//
// A signed-in person's jobs record their name (the record's `user`), are
// listed on "My jobs" (/jobs/mine) on any device, and, with JOB_VISIBILITY
// "owner" (the default with sign-in), only they and the operators named in
// ADMIN_USERS can open them: to anyone else a job's address answers 404, as
// for a job that does not exist.
import type { IncomingMessage } from "node:http";
import net from "node:net";
import type { Context, Middleware, Next } from "koa";

/** TRUSTED_USER_HEADER and its companions (header names, lower case), and TRUSTED_PROXIES. */
export interface SignInSettings {
  userHeader: string;
  emailHeader: string | null;
  nameHeader: string | null;
  /** Addresses or CIDR ranges (10.0.0.0/8, ::1) whose connections are believed. */
  proxies: readonly string[];
}

/** Who JOB_VISIBILITY lets open a signed-in person's job: only them (and the named operators), or anyone with its link. */
export type JobVisibility = "owner" | "link";

export interface User {
  /** The name the proxy gave (its TRUSTED_USER_HEADER): what the jobs record. */
  name: string;
  email: string | null;
  /** TRUSTED_NAME_HEADER, for display; the name when none. */
  displayName: string;
  /** A time zone the proxy gave, when it gives one (server/time-zone.ts reads it). */
  zone?: string;
}

/** The most characters a header's value may have; a longer or odd one is not believed. */
const VALUE_MAX_CHARS = 256;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** An address or a CIDR range as TRUSTED_PROXIES takes it, or null when it is neither. */
function parseRange(entry: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | null {
  const [address = "", bits, extra] = entry.split("/");
  const version = net.isIP(address);
  if (version === 0 || extra !== undefined) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** The entries of TRUSTED_PROXIES that are not an address or a CIDR range (config.ts reports them). */
export function badProxyEntries(entries: readonly string[]): string[] {
  return entries.filter((e) => parseRange(e) === null);
}

/** Whether a connection's address is one of the trusted proxies (an IPv4 address as IPv6 maps it counts as IPv4). */
export function proxyMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new net.BlockList();
  for (const entry of entries) {
    const range = parseRange(entry);
    if (range) list.addSubnet(range.address, range.prefix, range.family);
  }
  return (address) => {
    if (!address) return false;
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (v4) return list.check(v4, "ipv4");
    const version = net.isIP(address);
    return version !== 0 && list.check(address, version === 4 ? "ipv4" : "ipv6");
  };
}

/** A header's value as the proxy sent it, trimmed, or null when absent, empty, too long or holding control characters. */
function headerValue(req: IncomingMessage, name: string | null): string | null {
  if (!name) return null;
  const raw = req.headers[name];
  if (typeof raw !== "string") return null;
  const value = raw.trim();
  return value === "" || value.length > VALUE_MAX_CHARS || CONTROL.test(value) ? null : value;
}

/** Reads the signed-in person of a request: the listener's status poll and Koa (identity()) both ask it. */
export class Identity {
  private readonly isProxy: (address: string | undefined) => boolean;

  constructor(
    private readonly signIn: SignInSettings | null,
    private readonly visibility: JobVisibility,
    private readonly operators: readonly string[],
  ) {
    this.isProxy = proxyMatcher(signIn?.proxies ?? []);
  }

  /** Whether sign-in is set up at all (TRUSTED_USER_HEADER). */
  get enabled(): boolean {
    return this.signIn !== null;
  }

  /** The person a request comes from: only from a trusted proxy's connection, only with its user header. */
  userOf(req: IncomingMessage): User | null {
    const signIn = this.signIn;
    if (!signIn || !this.isProxy(req.socket.remoteAddress)) return null;
    const name = headerValue(req, signIn.userHeader);
    if (name === null) return null;
    return { name, email: headerValue(req, signIn.emailHeader), displayName: headerValue(req, signIn.nameHeader) ?? name };
  }

  /** Whether some jobs may be hidden from some readers (sign-in on, JOB_VISIBILITY=owner). */
  get restricts(): boolean {
    return this.signIn !== null && this.visibility === "owner";
  }

  /** Whether this person is an operator named in ADMIN_USERS. */
  isOperator(user: User | null): boolean {
    return user !== null && this.operators.includes(user.name);
  }

  /**
   * Whether a job may be opened by this reader: a job nobody signed in for,
   * and any job with JOB_VISIBILITY=link, by anyone with its link; a
   * signed-in person's job with "owner", only by them and the named operators.
   */
  mayOpen(job: { user: string | null }, user: User | null): boolean {
    if (job.user === null || this.visibility === "link") return true;
    return user !== null && (user.name === job.user || this.isOperator(user));
  }

  /** Koa: ctx.state.user for every request (undefined when anonymous). */
  middleware(): Middleware {
    return async (ctx: Context, next: Next) => {
      const user = this.userOf(ctx.req);
      if (user) (ctx.state as { user?: User }).user = user;
      await next();
    };
  }
}

/** The signed-in person of a request Koa handles (identity's middleware put them there), or null. */
export function userOf(ctx: Context): User | null {
  return (ctx.state as { user?: User }).user ?? null;
}

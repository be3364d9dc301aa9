// The operator's login: the password check (constant time), the signed
// session cookie, and the limit on failed attempts per address.
//
// The session is stateless: a cookie signed with Koa's app.keys
// (SESSION_SECRET) holding its expiry and a fingerprint of the configured
// password, so a new password or a new secret ends every session. Logging
// out removes the cookie from that browser.
import crypto from "node:crypto";
import { promisify } from "node:util";
import type { Context } from "koa";
import type { AdminPassword } from "../config.ts";

const scrypt = promisify(crypto.scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

export const SESSION_COOKIE = "sidejob_admin";
/** How long a login lasts. */
export const SESSION_MS = 8 * 3600_000;
/** Failed logins allowed per address in LOGIN_WINDOW_MS; the next attempt is answered 429 until the oldest is a window old. */
export const LOGIN_FAILURES_MAX = 10;
export const LOGIN_WINDOW_MS = 60_000;
/** Addresses remembered at most (the oldest is forgotten first): a flood of addresses cannot grow the map without bound. */
const THROTTLE_ADDRESSES_MAX = 10_000;

const sha256 = (text: string | Buffer) => crypto.createHash("sha256").update(text).digest();

/** Makes an ADMIN_PASSWORD_HASH value for a password (docs/operations.md, "Operators: /admin", shows the same as a one-line command). */
export function hashPassword(password: string, { N = 16384, r = 8, p = 1 } = {}): string {
  const salt = crypto.randomBytes(16);
  const hash = crypto.scryptSync(password, salt, 32, { N, r, p });
  return ["scrypt", N, r, p, salt.toString("base64"), hash.toString("base64")].join("$");
}

export class AdminAuth {
  private readonly fingerprint: string;

  constructor(private readonly password: AdminPassword) {
    const what = password.kind === "plain" ? password.password : `${password.salt.toString("base64")}$${password.hash.toString("base64")}`;
    this.fingerprint = sha256(`sidejob-admin-session\0${what}`).subarray(0, 12).toString("base64url");
  }

  /** Whether the given password is the operator's; the comparison takes the same time wherever they differ. */
  async check(given: string): Promise<boolean> {
    const p = this.password;
    if (p.kind === "plain") return crypto.timingSafeEqual(sha256(given), sha256(p.password));
    const derived = await scrypt(given, p.salt, p.hash.length, { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 });
    return crypto.timingSafeEqual(derived, p.hash);
  }

  /** Sets the signed session cookie (HttpOnly, SameSite=Strict, with an expiry). */
  startSession(ctx: Context, now = Date.now()): void {
    const expires = now + SESSION_MS;
    ctx.cookies.set(SESSION_COOKIE, `${expires}.${this.fingerprint}`, {
      signed: true,
      httpOnly: true,
      sameSite: "strict",
      path: "/",
      expires: new Date(expires),
      overwrite: true,
    });
  }

  endSession(ctx: Context): void {
    ctx.cookies.set(SESSION_COOKIE, null, { signed: true, httpOnly: true, sameSite: "strict", path: "/", overwrite: true });
  }

  /** Whether the request carries a session this server signed, not expired, for the current password. */
  hasSession(ctx: Context, now = Date.now()): boolean {
    // signed: a cookie whose signature does not verify with app.keys reads as absent.
    const value = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    if (!value) return false;
    const dot = value.indexOf(".");
    const expires = Number(value.slice(0, dot));
    return dot > 0 && Number.isSafeInteger(expires) && expires > now && value.slice(dot + 1) === this.fingerprint;
  }
}

/**
 * Failed logins per client address, in this instance's memory: with several
 * instances, each one counts its own (a client spread over N instances gets
 * N times the attempts).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max = LOGIN_FAILURES_MAX,
    private readonly windowMs = LOGIN_WINDOW_MS,
  ) {}

  private recent(address: string, now: number): number[] {
    const times = (this.failures.get(address) ?? []).filter((t) => t > now - this.windowMs);
    if (times.length === 0) this.failures.delete(address);
    else this.failures.set(address, times);
    return times;
  }

  /** Seconds to wait before trying again, or 0 when an attempt may be made now. */
  retryAfterS(address: string, now = Date.now()): number {
    const times = this.recent(address, now);
    if (times.length < this.max) return 0;
    return Math.max(1, Math.ceil((times[times.length - this.max]! + this.windowMs - now) / 1000));
  }

  failed(address: string, now = Date.now()): void {
    const times = this.recent(address, now);
    times.push(now);
    this.failures.delete(address);
    this.failures.set(address, times.slice(-this.max));
    if (this.failures.size > THROTTLE_ADDRESSES_MAX) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}

// The operator's login: the password check (constant time) and the session.
//
// A session is a random id, kept in Redis for as long as it lasts
// (jobs/core/store/login.ts), in a cookie signed with Koa's app.keys
// (SESSION_SECRET) that also holds its expiry. The cookie carries nothing
// made from the password. Redis keeps, with each session, the sessions'
// version at its login and a tag of the configured password (an HMAC keyed
// with SESSION_SECRET): logging out deletes the session, "log out
// everywhere" moves the version on, and a new password, a new secret or the
// session's expiry ends it.
import crypto from "node:crypto";
import { promisify } from "node:util";
import type { Context } from "koa";
import type { JobStore } from "../../jobs/core/store.ts";
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

const sha256 = (text: string | Buffer) => crypto.createHash("sha256").update(text).digest();
const COOKIE = { signed: true, httpOnly: true, sameSite: "strict", path: "/", overwrite: true } as const;

/** Makes an ADMIN_PASSWORD_HASH value for a password (docs/operations.md, "Operators: /admin", shows the same as a one-line command). */
export function hashPassword(password: string, { N = 16384, r = 8, p = 1 } = {}): string {
  const salt = crypto.randomBytes(16);
  const hash = crypto.scryptSync(password, salt, 32, { N, r, p });
  return ["scrypt", N, r, p, salt.toString("base64"), hash.toString("base64")].join("$");
}

export class AdminAuth {
  /** Tells one configured password from another, keyed with SESSION_SECRET: kept in Redis with each session, never sent. */
  private readonly tag: string;

  constructor(
    private readonly password: AdminPassword,
    secret: string,
    private readonly store: JobStore,
  ) {
    const what = password.kind === "plain" ? password.password : `${password.salt.toString("base64")}$${password.hash.toString("base64")}`;
    this.tag = crypto.createHmac("sha256", secret).update(`sidejob-admin-session\0${what}`).digest().subarray(0, 16).toString("base64url");
  }

  /** Whether the given password is the operator's; the comparison takes the same time wherever they differ. */
  async check(given: string): Promise<boolean> {
    const p = this.password;
    if (p.kind === "plain") return crypto.timingSafeEqual(sha256(given), sha256(p.password));
    const derived = await scrypt(given, p.salt, p.hash.length, { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 });
    return crypto.timingSafeEqual(derived, p.hash);
  }

  /** Starts a session and sets its signed cookie (HttpOnly, SameSite=Strict, with an expiry). */
  async startSession(ctx: Context, now = Date.now()): Promise<void> {
    const id = crypto.randomBytes(24).toString("base64url");
    const expires = now + SESSION_MS;
    await this.store.startSession(id, this.tag, SESSION_MS);
    ctx.cookies.set(SESSION_COOKIE, `${expires}.${id}`, { ...COOKIE, expires: new Date(expires) });
  }

  /** Ends this browser's session, in Redis and in its cookie. */
  async endSession(ctx: Context): Promise<void> {
    const id = this.sessionId(ctx);
    if (id) await this.store.endSession(id);
    ctx.cookies.set(SESSION_COOKIE, null, COOKIE);
  }

  /** Ends every session, on every browser and instance. */
  async endEverySession(ctx: Context): Promise<void> {
    await this.store.endEverySession();
    ctx.cookies.set(SESSION_COOKIE, null, COOKIE);
  }

  /** Whether the request carries a session this server signed, not expired, still live in Redis. */
  async hasSession(ctx: Context, now = Date.now()): Promise<boolean> {
    const id = this.sessionId(ctx, now);
    return id !== null && (await this.store.isSession(id, this.tag));
  }

  /** The session id of a signed, unexpired cookie, or null. */
  private sessionId(ctx: Context, now = Date.now()): string | null {
    // signed: a cookie whose signature does not verify with app.keys reads as absent.
    const value = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const match = value ? /^(\d+)\.([A-Za-z0-9_-]{32})$/.exec(value) : null;
    if (!match || !(Number(match[1]) > now)) return null;
    return match[2]!;
  }
}

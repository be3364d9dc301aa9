// The limit on failed logins, shared by every instance through Redis
// (jobs/core/store/login.ts): each attempt is counted as failed before its
// password is checked, and given back when the password is right, so a
// burst of attempts sent at once checks at most LOGIN_FAILURES_MAX per
// address. An IPv6 client counts by its /64 (one host is usually given a
// whole /64), and every address together has a budget of its own.
import crypto from "node:crypto";
import net from "node:net";
import type { JobStore } from "../../jobs/core/store.ts";

/** Failed logins allowed per address in LOGIN_WINDOW_MS; the next attempt is answered 429 until the oldest is a window old. */
export const LOGIN_FAILURES_MAX = 10;
/** Failed logins allowed from every address together in LOGIN_WINDOW_MS: what many addresses together may try. */
export const LOGIN_FAILURES_ALL_MAX = 100;
export const LOGIN_WINDOW_MS = 60_000;

/** What a client is counted as: its IPv4 address, or its IPv6 /64 ("2001:db8:0:1::/64"). */
export function clientAddress(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (net.isIPv4(ip)) return ip;
  const bare = ip.replace(/%.*$/, "");
  if (!net.isIPv6(bare)) return "unknown";
  const [head = "", tail = ""] = bare.toLowerCase().split("::");
  const front = head === "" ? [] : head.split(":");
  const back = bare.includes("::") && tail !== "" ? tail.split(":") : [];
  // An embedded IPv4 tail (::1.2.3.4) is two groups, which the /64 never reaches.
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill("0"), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

export type Reservation = { ok: true; address: string; attempt: string } | { ok: false; retryAfterS: number };

export class LoginThrottle {
  constructor(
    private readonly store: JobStore,
    private readonly limits = { windowMs: LOGIN_WINDOW_MS, perAddress: LOGIN_FAILURES_MAX, everyAddress: LOGIN_FAILURES_ALL_MAX },
  ) {}

  /** Counts an attempt from this client as failed, or says how long to wait before one may be made. */
  async reserve(ip: string): Promise<Reservation> {
    const address = clientAddress(ip);
    const attempt = crypto.randomBytes(9).toString("base64url");
    const waitMs = await this.store.reserveLogin(address, attempt, this.limits);
    return waitMs > 0 ? { ok: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) } : { ok: true, address, attempt };
  }

  /** The password was right: the attempt is not a failure, and the address starts afresh. */
  async succeeded(reservation: { address: string; attempt: string }): Promise<void> {
    await this.store.loginSucceeded(reservation.address, reservation.attempt);
  }
}

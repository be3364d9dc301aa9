// The address a request came from, for what is counted per client (the
// operator's login limit). Behind reverse proxies, the socket's address is
// the nearest proxy's, and every client would share one count.
import type { Context } from "koa";

/**
 * The client's address. Behind `hops` reverse proxies (TRUST_PROXY_HOPS) that
 * each append the address they received the request from to
 * X-Forwarded-For, it is the hops-th entry from the right: entries a client
 * writes into the header itself stand further left, so it cannot choose its
 * own address. With no proxy (0), or a header with fewer entries than
 * hops, the socket's address.
 */
export function requestAddress(ctx: Context, hops: number): string {
  const socket = ctx.req.socket.remoteAddress ?? "";
  if (hops <= 0) return socket;
  const header = ctx.get("X-Forwarded-For");
  if (!header) return socket;
  const entries = header
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  return entries.length >= hops ? entries[entries.length - hops]! : socket;
}

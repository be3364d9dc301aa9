// Response headers every answer carries, and the same-origin rule for POSTs.
import type { Middleware } from "koa";
import { HttpError } from "./errors.ts";

// No inline script or style anywhere: htmx is configured for this policy
// (includeIndicatorStyles:false, allowEval:false in the htmx-config meta tag).
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

/** The headers every answer carries, from Koa or from the request listener's status poll. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Security-Policy": CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
});

export function securityHeaders(): Middleware {
  return async function setSecurityHeaders(ctx, next) {
    ctx.set(SECURITY_HEADERS);
    await next();
  };
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * An Origin is this site's when its scheme, host and port are this server's:
 * http (it serves no TLS itself), and the Host the request came with
 * (default ports made explicit on both sides). "null" or garbage is not.
 */
export function sameOrigin(origin: string, host: string): boolean {
  try {
    const from = new URL(origin);
    const self = new URL(`http://${host}`);
    // An Origin is scheme://host[:port] alone: anything more is not one a browser sends.
    const bare = from.pathname === "/" && !from.search && !from.hash && !from.username && !from.password;
    return bare && from.protocol === "http:" && from.host === self.host;
  } catch {
    return false;
  }
}

/**
 * Refuses cross-site state changes (403), the rule browsers make safe:
 * Sec-Fetch-Site "same-origin" or "none" passes and any other value is refused;
 * without it, an Origin whose scheme, host or port is not this server's is
 * refused (sameOrigin); with neither
 * header (curl, scripts) the request passes.
 */
export function sameOriginOnly(): Middleware {
  return async function checkOrigin(ctx, next) {
    if (!SAFE_METHODS.has(ctx.method)) {
      const site = ctx.get("Sec-Fetch-Site");
      const origin = ctx.get("Origin");
      let refused = false;
      if (site) {
        refused = site !== "same-origin" && site !== "none";
      } else if (origin) {
        refused = !sameOrigin(origin, ctx.get("Host"));
      }
      if (refused) throw new HttpError(403, "This form can only be sent from this site's own pages.");
    }
    await next();
  };
}

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
 * Refuses cross-site state changes (403), the rule browsers make safe:
 * Sec-Fetch-Site "same-origin" or "none" passes and any other value is refused;
 * without it, an Origin that does not match the Host is refused; with neither
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
        let host: string | null = null;
        try {
          host = new URL(origin).host;
        } catch {
          // "null" or garbage: not this site.
        }
        refused = host === null || host !== ctx.get("Host");
      }
      if (refused) throw new HttpError(403, "This form can only be sent from this site's own pages.");
    }
    await next();
  };
}

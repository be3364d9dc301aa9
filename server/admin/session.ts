// The operator's session: the login page and its POST (throttled per
// address and in all, login-throttle.ts), the logout, "log out everywhere",
// and the check every other operator's page passes first (requireSession).
import type Router from "@koa/router";
import type { Context, Middleware, Next } from "koa";
import { HttpError } from "../errors.ts";
import { requestAddress } from "../forwarded.ts";
import { wantsJson } from "../negotiate.ts";
import type { AdminAuth } from "./auth.ts";
import { userOf, type Identity } from "../identity.ts";
import type { LoginThrottle } from "./login-throttle.ts";
import { adminBody, field } from "./shared.ts";
import { ADMIN_ROUTE } from "./view.ts";

/** Only a path under /admin: a login never sends anyone to another site. */
function safeNext(value: unknown): string {
  return typeof value === "string" && /^\/admin(?:[/?#]|$)/.test(value) && !value.includes("//") && !value.includes("\\")
    ? value
    : ADMIN_ROUTE;
}

const renderLogin = async (ctx: Context, error: string | null, next: string) => {
  await ctx.render("pages/admin-login", { title: error ? "Error: Operator login" : "Operator login", error, next });
};

/** GET and POST /admin/login, POST /admin/logout: open to anyone (the POSTs have passed the same-origin check). */
/** proxyHops: TRUST_PROXY_HOPS, which says where a client's address is (server/forwarded.ts). */
export function sessionRoutes(router: Router, auth: AdminAuth, throttle: LoginThrottle, proxyHops: number, identity: Identity): void {
  router.get("/login", async (ctx) => {
    const next = safeNext(ctx.query.next);
    if (await auth.hasSession(ctx)) return ctx.redirect(next);
    await renderLogin(ctx, null, next);
  });

  router.post("/login", adminBody, async (ctx) => {
    // Counted as a failure before the check: attempts sent at once cannot all be checked.
    const reservation = await throttle.reserve(requestAddress(ctx, proxyHops));
    if (!reservation.ok) {
      const wait = reservation.retryAfterS;
      throw new HttpError(429, `Too many failed logins from your address. Try again in ${wait} s.`, {
        title: "Too many attempts",
        headers: { "Retry-After": String(wait) },
        code: "too-many-attempts",
      });
    }
    const next = safeNext(field(ctx, "next"));
    const password = field(ctx, "password");
    if (!password || password.length > 1024 || !(await auth.check(password))) {
      ctx.status = 401;
      if (wantsJson(ctx)) {
        ctx.body = { error: "wrong-password", message: "That password is not the operator's.", status: 401 };
        return;
      }
      await renderLogin(
        ctx,
        password ? "That password is not the operator's. Check it and try again." : "Enter the operator's password.",
        next,
      );
      return;
    }
    await throttle.succeeded(reservation);
    await auth.startSession(ctx);
    if (wantsJson(ctx)) {
      ctx.status = 204;
      return;
    }
    ctx.status = 303;
    ctx.redirect(next);
  });

  const loggedOut = (ctx: Context) => {
    if (wantsJson(ctx)) {
      ctx.status = 204;
      return;
    }
    ctx.status = 303;
    ctx.redirect(`${ADMIN_ROUTE}/login`);
  };

  router.post("/logout", async (ctx) => {
    await auth.endSession(ctx);
    loggedOut(ctx);
  });

  // Every session, on every browser: only from a session (a stranger cannot log the operator out).
  router.post("/logout-everywhere", requireSession(auth, identity), async (ctx) => {
    await auth.endEverySession(ctx);
    loggedOut(ctx);
  });
}

/**
 * Lets an operator through: one signed in by the site's proxy and named in
 * ADMIN_USERS (identity.ts), or a request with the password's session.
 * Otherwise, with a password set: a JSON client or a POST gets a 401; a
 * browser's GET is sent to the login page, which sends it back here after.
 * With no password (operators by name only), a 403 that says who may enter.
 */
export function requireSession(auth: AdminAuth | null, identity: Identity): Middleware {
  return async (ctx: Context, next: Next) => {
    if (identity.isOperator(userOf(ctx)) || (auth && (await auth.hasSession(ctx)))) {
      await next();
      return;
    }
    if (!auth) {
      throw new HttpError(403, "Only the site's operators may open these pages: sign in as one of the people ADMIN_USERS names.", {
        title: "Operators only",
        code: "forbidden",
      });
    }
    if (wantsJson(ctx) || ctx.method !== "GET") {
      throw new HttpError(401, "Log in as the operator first: POST /admin/login with the password.", {
        title: "Login needed",
        code: "unauthenticated",
      });
    }
    const login = `${ADMIN_ROUTE}/login?next=${encodeURIComponent(ctx.originalUrl)}`;
    if (ctx.get("HX-Request") === "true") {
      // An overview refresh after the session ended: htmx would follow a
      // redirect and swap the login page into the overview; this sends the
      // whole page there instead.
      ctx.status = 204;
      ctx.set("HX-Redirect", login);
      return;
    }
    ctx.status = 303;
    ctx.redirect(login);
  };
}

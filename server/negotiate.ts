// Content negotiation: every page that also answers JSON asks here which the
// client wants. A browser (Accept: text/html, or */*) gets HTML; a client
// that prefers application/json gets JSON.
import type { Context } from "koa";

/** The client asked for JSON rather than HTML (Accept). */
export function wantsJson(ctx: Pick<Context, "accepts">): boolean {
  return ctx.accepts("html", "json") === "json";
}

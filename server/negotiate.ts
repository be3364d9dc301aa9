// Content negotiation: every page that also answers JSON asks here which the
// client wants. A browser (Accept: text/html, or */*) gets HTML; a client
// that prefers application/json gets JSON. A request whose own body is JSON
// comes from a program, never from a browser's form: it is answered in JSON
// unless its Accept names HTML, so a client built from the API document,
// which sends no Accept (or */*), gets the JSON the document promises.
import type { Context } from "koa";

/** An Accept header that lists an HTML media type by name. */
const NAMES_HTML = /(^|[\s,])(text\/html|application\/xhtml\+xml)\s*(;|,|$)/i;

/** The client asked for JSON rather than HTML (Accept), or sent JSON and did not ask for HTML. */
export function wantsJson(ctx: Pick<Context, "accepts" | "is" | "get">): boolean {
  if (ctx.accepts("html", "json") === "json") return true;
  // Only an Accept that names HTML itself keeps a page for a JSON body (*/*, or none, does not).
  return typeof ctx.is("json") === "string" && !NAMES_HTML.test(ctx.get("Accept"));
}

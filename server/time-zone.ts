// The reader's time zone: the one place that says in which zone a request's
// times are shown. In order:
//   1. the signed-in person's own zone (ctx.state.user?.zone): single sign-on
//      will fill it from its header, which does not exist yet;
//   2. the zone this browser chose on the time zone page (routes/time-zone.ts),
//      kept in a cookie: a plain form, no JavaScript;
//   3. UTC.
// Every zone is checked against the runtime's list (Intl.supportedValuesOf),
// so a forged cookie can only choose a real zone, and a stale one (a zone
// the runtime no longer knows) falls back to UTC. Whatever the zone, a
// `<time datetime>` on a page stays in UTC (job-times.ts).
import type { Context, Middleware } from "koa";

export const UTC = "UTC";
export const TIME_ZONE_COOKIE = "sidejob_zone";
/** The page that shows the choice and takes a new one (a GET and a POST). */
export const TIME_ZONE_URL = "/settings/time-zone";
/** The browser keeps the choice this long: 400 days, the most Chromium keeps any cookie. */
export const TIME_ZONE_MAX_AGE_MS = 400 * 86_400_000;

/** What a zone's name may hold at most: "America/Argentina/ComodRivadavia" is 32 characters. */
const NAME = /^[A-Za-z0-9_+\-/]{1,64}$/;

let supported: ReadonlySet<string> | undefined;
/** The runtime's zones (its ICU's canonical names), read once. UTC is not among them: it is added where offered. */
function supportedZones(): ReadonlySet<string> {
  supported ??= new Set(Intl.supportedValuesOf("timeZone"));
  return supported;
}

/** Names already checked, and the canonical zone each stands for: at most the runtime's names and aliases (a few hundred). */
const checked = new Map<string, string>();

/**
 * The zone a name stands for, as the runtime names it ("US/Eastern" is
 * America/New_York, "Etc/UTC" is UTC), when it is UTC or one of the runtime's
 * supported zones; else null. Only names that are zones are remembered, so a
 * client sending garbage cannot grow the memo.
 */
export function timeZoneOf(name: unknown): string | null {
  if (typeof name !== "string" || !NAME.test(name)) return null;
  const known = checked.get(name);
  if (known) return known;
  let zone: string;
  try {
    zone = new Intl.DateTimeFormat("en-GB", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
  if (zone !== UTC && !supportedZones().has(zone)) return null;
  checked.set(name, zone);
  return zone;
}

/** The zones the time zone page offers: UTC, then the runtime's, by region ("Europe"), each labelled by its place ("Buenos Aires, Argentina"). */
export interface ZoneGroup {
  region: string;
  zones: { value: string; label: string }[];
}

let groups: ZoneGroup[] | undefined;
export function zoneGroups(): readonly ZoneGroup[] {
  if (groups) return groups;
  const byRegion = new Map<string, ZoneGroup>();
  for (const zone of supportedZones()) {
    const [region = zone, ...place] = zone.split("/");
    const label = place.length === 0 ? zone : place.reverse().join(", ").replaceAll("_", " ");
    let group = byRegion.get(region);
    if (!group) byRegion.set(region, (group = { region, zones: [] }));
    group.zones.push({ value: zone, label });
  }
  groups = [...byRegion.values()].sort((a, b) => a.region.localeCompare(b.region, "en"));
  for (const group of groups) group.zones.sort((a, b) => a.label.localeCompare(b.label, "en"));
  return groups;
}

/** The zone a Cookie header chose (the first valid one), or null. */
export function cookieZone(header: string | undefined): string | null {
  if (!header) return null;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1 || pair.slice(0, eq).trim() !== TIME_ZONE_COOKIE) continue;
    const zone = timeZoneOf(pair.slice(eq + 1).trim());
    if (zone) return zone;
  }
  return null;
}

/**
 * The zone a request's times are shown in: the signed-in person's own, else
 * the one this browser chose, else UTC. The one place that decides it: the
 * pages (zoneOf) and the status poll's fast path (listener.ts) both ask here.
 * That path runs before Koa and has no ctx.state: when single sign-on fills
 * user.zone, it must give the listener the same user (or hand a signed-in
 * person's polls to Koa), or their polls would show the cookie's zone.
 */
export function readerZone({ user, cookie }: { user?: { zone?: unknown } | null; cookie?: string }): string {
  return timeZoneOf(user?.zone) ?? cookieZone(cookie) ?? UTC;
}

/** The zone of a request Koa handles. */
export function zoneOf(ctx: Pick<Context, "state" | "get">): string {
  const state = ctx.state as { user?: { zone?: unknown } | null };
  return readerZone({ user: state.user, cookie: ctx.get("Cookie") });
}

/** Keeps a chosen zone (already checked) in this browser. Not signed: it is no secret, and it is checked again on every read. */
export function keepZone(ctx: Context, zone: string): void {
  ctx.cookies.set(TIME_ZONE_COOKIE, zone, { httpOnly: true, sameSite: "lax", path: "/", maxAge: TIME_ZONE_MAX_AGE_MS, overwrite: true });
}

/**
 * A path on this site to go back to after the choice, from what the form
 * carried: a path and query only. Anything else (another host, //host or
 * /\host, which browsers read as another host, a scheme, control
 * characters) goes to the start page: the form never redirects off the site.
 */
export function backPath(value: unknown): string {
  if (typeof value !== "string" || value.length > 2048 || !/^\/(?![/\\])/.test(value) || /[\p{Cc}\\]/u.test(value)) return "/";
  const url = new URL(value, "http://site.invalid");
  return url.host === "site.invalid" ? `${url.pathname}${url.search}` : "/";
}

/** The time zone page's address, coming back here afterwards. */
export function changeZoneUrl(back: string): string {
  return back === "/" ? TIME_ZONE_URL : `${TIME_ZONE_URL}?${new URLSearchParams({ back })}`;
}

/** What the layout's footer says of the zone: which it is, and the link to change it (none on the time zone page itself). */
export interface TimeZoneState {
  zone: string;
  changeUrl: string | null;
}

/**
 * Gives the pages' layout the reader's zone and the link to change it
 * (ctx.state.timeZone, which koa-views hands every template). Put it after
 * whatever sets ctx.state.user. Addresses under `except` are left out: the
 * operators' pages, whose times, charts and filters are in UTC, and say so.
 */
export function timeZoneState({ except }: { except: string }): Middleware {
  return async function readerTimeZone(ctx, next) {
    if (ctx.path !== except && !ctx.path.startsWith(`${except}/`)) {
      const here = ctx.path === TIME_ZONE_URL;
      ctx.state.timeZone = {
        zone: zoneOf(ctx),
        changeUrl: here ? null : changeZoneUrl(backPath(`${ctx.path}${ctx.search}`)),
      } satisfies TimeZoneState;
    }
    await next();
  };
}

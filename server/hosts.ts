// Which Host headers the server answers (ALLOWED_HOSTS). A page from another
// site can make a browser talk to this server under its own name (DNS
// rebinding: evil.example resolves to 127.0.0.1); the browser then sends
// `Host: evil.example`, which is not in the list and gets 421.
//
// An entry with a port matches that name and port; an entry without one
// matches the name on any port. A Host without a port means port 80.

/** ALLOWED_HOSTS as config.ts parses it: names, "*" (no check), or the loopback default. */
export type AllowedHosts = readonly string[] | "*" | "loopback";

const ENTRY = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/;

/** A problem with one ALLOWED_HOSTS entry, or undefined. */
export function checkHostEntry(entry: string): string | undefined {
  return ENTRY.test(entry) ? undefined : `${JSON.stringify(entry)} is not a host name or address with an optional :port`;
}

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Name and port of a Host header value (lowercase; port 80 when none is given), or null. */
function split(value: string): { name: string; port: string | null } | null {
  const text = value.trim().toLowerCase();
  const close = text.startsWith("[") ? text.indexOf("]") + 1 : 0;
  const colon = text.indexOf(":", close);
  const name = colon === -1 ? text : text.slice(0, colon);
  const port = colon === -1 ? null : text.slice(colon + 1);
  if (name === "" || (port !== null && !/^\d{1,5}$/.test(port))) return null;
  return { name, port: port === null ? null : String(Number(port)) };
}

/** A test of Host header values against the allowed hosts; port() is the port the server listens on. */
export function hostChecker(allowed: AllowedHosts, port: () => number): (host: string | undefined) => boolean {
  if (allowed === "*") return () => true;
  let entries: { name: string; port: string | null }[] | null = null;
  const resolve = () => {
    const list = allowed === "loopback" ? ["localhost", "127.0.0.1", "[::1]"].map((name) => `${name}:${port()}`) : allowed;
    return list.map(split).filter((e) => e !== null);
  };
  return (host) => {
    if (!host) return false;
    const given = split(host);
    if (!given) return false;
    entries ??= resolve();
    const givenPort = given.port ?? "80";
    return entries.some((e) => e.name === given.name && (e.port === null || e.port === givenPort));
  };
}

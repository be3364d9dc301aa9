// Where a webhook may go. Its URL names a host that WEBHOOK_ALLOWED_HOSTS
// lists (an entry with a port allows that port; one without, the scheme's
// own: 80 for http, 443 for https). And the address connected to must be a
// public one, unless that address itself is listed: a listed name whose DNS
// answers 127.0.0.1, 10.0.0.5 or 169.254.169.254 is refused, so whoever
// controls a listed name's DNS cannot turn the server's requests onto its
// own network. The name is resolved when the URL is submitted (a clear 422)
// and again for each attempt, by the lookup the request connects with
// (webhookLookup): the address checked is the address connected to.
import dns from "node:dns";
import type { LookupAddress } from "node:dns";
import ipaddr from "ipaddr.js";

/** One WEBHOOK_ALLOWED_HOSTS entry: a name (lower case) or an address (canonical), and a port or none. */
export interface HostEntry {
  host: string;
  port: number | null;
}

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** An address in its canonical text (an IPv4-mapped IPv6 address as IPv4), or null when the text is not an address. */
export function canonicalAddress(text: string): string | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!ipaddr.isValid(bare)) return null;
  // ipaddr.isValid takes forms such as "10" or "0x7f.1"; only the usual dotted and colon forms count as addresses here.
  if (!ipaddr.IPv4.isValidFourPartDecimal(bare) && !bare.includes(":")) return null;
  return ipaddr.process(bare).toString();
}

/** Parses "host", "host:port", "[v6]" or "[v6]:port"; null when it is none of them. */
export function parseHostEntry(text: string): HostEntry | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && (port < 1 || port > 65535)) return null;
  const host = m[1]!.toLowerCase();
  const address = canonicalAddress(host);
  if (host.startsWith("[") && address === null) return null;
  if (address === null && !NAME.test(host)) return null;
  return { host: address ?? host, port };
}

/** Whether an address is public: global unicast, none of the loopback, private, link-local, shared or reserved ranges. */
export function isPublicAddress(address: string): boolean {
  try {
    return ipaddr.process(address).range() === "unicast";
  } catch {
    return false;
  }
}

function portAllowed(entry: HostEntry, port: number, defaultPort: number): boolean {
  return entry.port === null ? port === defaultPort : entry.port === port;
}

/** Whether one address may be connected to for a webhook on this port: public, or listed itself. */
export function addressAllowed(entries: readonly HostEntry[], address: string, port: number, defaultPort: number): boolean {
  const canonical = canonicalAddress(address);
  if (canonical === null) return false;
  if (isPublicAddress(canonical)) return true;
  return entries.some((e) => e.host === canonical && portAllowed(e, port, defaultPort));
}

/** A webhook URL's parts that the rules look at. */
export interface WebhookTarget {
  url: URL;
  /** The host as listed: a name in lower case, or a canonical address. */
  host: string;
  /** Set when the host is an address (no lookup is made for it). */
  address: string | null;
  port: number;
  defaultPort: number;
}

export const WEBHOOK_URL_MAX = 2048;

/** Checks a webhook URL's form and that its host is listed; the problem in words, or the target. */
export function webhookTarget(text: string, entries: readonly HostEntry[]): WebhookTarget | string {
  if (text.length > WEBHOOK_URL_MAX) return `The webhook URL is longer than ${WEBHOOK_URL_MAX} characters.`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "The webhook URL is not a URL: send an absolute http:// or https:// address.";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "The webhook URL must start with http:// or https://.";
  if (url.username || url.password) return "The webhook URL must not hold a user name or password.";
  const defaultPort = url.protocol === "https:" ? 443 : 80;
  const port = url.port ? Number(url.port) : defaultPort;
  const address = canonicalAddress(url.hostname);
  const host = address ?? url.hostname.toLowerCase();
  if (!entries.some((e) => e.host === host && portAllowed(e, port, defaultPort))) {
    return `The webhook URL's host (${url.host}) is not one this server sends webhooks to (WEBHOOK_ALLOWED_HOSTS).`;
  }
  return { url, host, address, port, defaultPort };
}

/** Why no address of a name may be used, in words. */
function refusedAddresses(target: WebhookTarget, addresses: readonly string[]): string {
  return `The webhook URL's host (${target.url.host}) resolves to ${addresses.join(", ")}: a private, loopback or reserved address that WEBHOOK_ALLOWED_HOSTS does not list.`;
}

/** How long a submit waits for the webhook's host name to resolve before it takes the URL unchecked (each attempt checks it again). */
const SUBMIT_LOOKUP_MS = 3000;

/**
 * Checks a submitted webhook URL: its form, its listed host, and the
 * addresses its name resolves to now. A name that does not exist is
 * refused; a lookup that fails otherwise or takes too long leaves the check
 * to each attempt. The problem in words, or null.
 */
export async function checkWebhookUrl(text: string, entries: readonly HostEntry[]): Promise<string | null> {
  const target = webhookTarget(text, entries);
  if (typeof target === "string") return target;
  if (target.address !== null) {
    return addressAllowed(entries, target.address, target.port, target.defaultPort) ? null : refusedAddresses(target, [target.address]);
  }
  let timer: NodeJS.Timeout | undefined;
  const found = await Promise.race([
    dns.promises.lookup(target.url.hostname, { all: true, verbatim: true }).then(
      (list) => list.map((a) => a.address),
      (err: NodeJS.ErrnoException) => (err.code === "ENOTFOUND" ? "missing" : "unknown"),
    ),
    new Promise<"unknown">((resolve) => (timer = setTimeout(() => resolve("unknown"), SUBMIT_LOOKUP_MS))),
  ]).finally(() => clearTimeout(timer));
  if (found === "missing") return `The webhook URL's host (${target.url.hostname}) has no address.`;
  if (found === "unknown") return null;
  const usable = found.filter((a) => addressAllowed(entries, a, target.port, target.defaultPort));
  return usable.length > 0 ? null : refusedAddresses(target, found);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * The lookup a webhook's request connects with: the name's addresses that
 * the rules allow, or an error naming those they refuse. Node connects to
 * what this returns, so no second lookup can answer otherwise.
 */
export function webhookLookup(target: WebhookTarget, entries: readonly HostEntry[]) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { all: true, verbatim: true, family: options.family ?? 0 }, (err, list) => {
      if (err) return callback(err, "");
      const usable = list.filter((a) => addressAllowed(entries, a.address, target.port, target.defaultPort));
      if (usable.length === 0) {
        const refused: NodeJS.ErrnoException = new Error(
          refusedAddresses(
            target,
            list.map((a) => a.address),
          ),
        );
        refused.code = "EADDRNOTALLOWED";
        return callback(refused, "");
      }
      if (options.all) return callback(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}

// A browser's cookie jar, as far as the tests need one: what Set-Cookie
// headers set, sent back in a Cookie header; and a cookie signed as Koa signs
// it (Keygrip's default: HMAC-SHA1, base64url), to send a cookie an app with
// that secret would accept.
import crypto from "node:crypto";

export interface SetCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

export function parseSetCookie(header: string): SetCookie {
  const [pair = "", ...rest] = header.split(";");
  const eq = pair.indexOf("=");
  const attributes: Record<string, string | true> = {};
  for (const part of rest) {
    const [key = "", ...value] = part.trim().split("=");
    attributes[key.toLowerCase()] = value.length ? value.join("=") : true;
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

export class CookieJar {
  readonly cookies = new Map<string, string>();

  /** Takes what a response set (an empty value or a past expiry removes the cookie). */
  take(res: Response): SetCookie[] {
    const set = res.headers.getSetCookie().map(parseSetCookie);
    for (const c of set) {
      const expired = typeof c.attributes.expires === "string" && Date.parse(c.attributes.expires) <= Date.now();
      if (c.value === "" || expired) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return set;
  }

  header(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { Cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
  }
}

/** name=value plus its name.sig, signed with the secret as Koa's app.keys would. */
export function signedCookie(name: string, value: string, secret: string): string {
  const sig = crypto.createHmac("sha1", secret).update(`${name}=${value}`).digest("base64url");
  return `${name}=${value}; ${name}.sig=${sig}`;
}

// One attempt of a webhook: the JSON body POSTed to the URL given at submit,
// signed with WEBHOOK_SECRET (X-Sidejob-Signature: sha256=<hex HMAC-SHA256
// of the body>), connected only to an address the rules allow (hosts.ts),
// within the attempt's time limit. Redirects are not followed; the answer's
// body is read and dropped.
import crypto from "node:crypto";
import http from "node:http";
import https from "node:https";
import { addressAllowed, webhookLookup, webhookTarget, type HostEntry } from "./hosts.ts";

export const SIGNATURE_HEADER = "X-Sidejob-Signature";

/** The signature header's value for a body. */
export function signature(body: string, secret: string): string {
  return `sha256=${crypto.createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** An attempt that failed: its status when there was one; retry: whether another attempt may do better. */
export class AttemptError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retry: boolean,
  ) {
    super(message);
    this.name = "AttemptError";
  }
}

export interface WebhookOptions {
  secret: string;
  hosts: readonly HostEntry[];
  timeoutMs: number;
  userAgent: string;
  signal?: AbortSignal;
}

/** Posts the body; resolves with a 2xx status, or rejects with an AttemptError. */
export function postWebhook(urlText: string, body: string, options: WebhookOptions): Promise<number> {
  const target = webhookTarget(urlText, options.hosts);
  if (typeof target === "string") return Promise.reject(new AttemptError(target, null, false));
  if (target.address !== null && !addressAllowed(options.hosts, target.address, target.port, target.defaultPort)) {
    return Promise.reject(new AttemptError(`The address ${target.address} is not allowed.`, null, false));
  }
  const send = target.url.protocol === "https:" ? https.request : http.request;
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const fail = (err: AttemptError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(err);
    };
    const request = send(
      target.url,
      {
        method: "POST",
        lookup: webhookLookup(target, options.hosts),
        headers: {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(body),
          "User-Agent": options.userAgent,
          [SIGNATURE_HEADER]: signature(body, options.secret),
        },
        signal: options.signal,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        // The answer's body says nothing we keep; read it to its end so the socket is freed.
        response.resume();
        response.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (status >= 200 && status < 300) return resolve(status);
          // A server error, a timeout or a rate limit may pass; any other answer will be the same next time.
          const retry = status >= 500 || status === 408 || status === 429;
          const why = status >= 300 && status < 400 ? " (redirects are not followed)" : "";
          reject(new AttemptError(`The receiver answered ${status}${why}.`, status, retry));
        });
        response.on("error", (err) => fail(new AttemptError(err.message, status, true)));
      },
    );
    const timer = setTimeout(() => fail(new AttemptError(`No answer within ${options.timeoutMs} ms.`, null, true)), options.timeoutMs);
    request.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRNOTALLOWED") return fail(new AttemptError(err.message, null, false));
      fail(new AttemptError(err.code ? `${err.code}: ${err.message}` : err.message, null, true));
    });
    request.end(body);
  });
}

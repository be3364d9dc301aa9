// The server's request listener: main.ts runs http.createServer(listener).
//
// It answers the status poll itself and hands every other request to Koa.
// Every open status page asks every 2 s, so the poll is the request a server
// sees most, and it needs none of Koa's middleware. It answers only the
// common case, a job that exists; anything else (no such job, Redis
// unreachable, a HEAD, a JSON client) goes to the Koa route in routes/jobs.ts, which
// renders errors as every other page does. The read already made travels
// with the request, so Redis is asked once. A job that has not changed is
// not read from Redis at all: the job cache (job-cache.ts) keeps it, with the
// answers rendered from it, until Redis says it changed. Why this path
// exists, and what it saves: bench/README.md ("The status poll").
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type Koa from "koa";
import type { Config } from "./config.ts";
import type { Identity } from "./identity.ts";
import type { Renderer } from "./render.ts";
import { SECURITY_HEADERS } from "./security.ts";
import { pollQuery, rememberRead, statusFragment, type PageRead, type PageReader, type StatusAnswer } from "./status.ts";
import { matchStatusPoll } from "./urls.ts";
import { readerZone } from "./time-zone.ts";
import type { PollTally } from "./request-log.ts";

export interface ListenerDeps {
  app: Koa;
  pages: PageReader;
  renderer: Renderer;
  config: Config;
  /** Who is asking (identity.ts): another person's job is left to Koa, which answers 404. */
  identity: Identity;
  /** Counts the polls answered here: one increment each, nothing more (request-log.ts writes the count). */
  polls: Pick<PollTally, "served">;
}

/** The headers of a poll answer: what the Koa route sets, in one constant. */
export const POLL_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...SECURITY_HEADERS,
  "Cache-Control": "no-store",
  "Content-Type": "text/html; charset=utf-8",
  // The fragment differs for htmx (it says it updates by itself) and for a JSON client.
  Vary: "HX-Request, Accept",
});

const POLL_HEADER_LIST: readonly string[] = Object.entries(POLL_HEADERS).flat();

/** The answer's bytes and headers, made once per answer (a kept answer is written many times). */
function wire(answer: StatusAnswer): NonNullable<StatusAnswer["wire"]> {
  if (answer.wire) return answer.wire;
  const body = Buffer.from(answer.body);
  return (answer.wire = { body, headers: [...POLL_HEADER_LIST, "Content-Length", String(body.length)] });
}

export function createRequestListener({ app, pages, renderer, config, identity, polls }: ListenerDeps): RequestListener {
  const koa = app.callback();
  return function listener(req: IncomingMessage, res: ServerResponse): void {
    const poll = req.method === "GET" && req.url ? matchStatusPoll(req.url) : null;
    const htmx = req.headers["hx-request"] === "true";
    // A JSON client (not htmx) gets the job as JSON from the Koa route, which negotiates.
    if (!poll || (!htmx && req.headers.accept?.includes("json"))) {
      void koa(req, res);
      return;
    }
    // No ctx.state here: the signed-in person is read from the request as Koa's middleware reads it.
    const user = identity.enabled ? identity.userOf(req) : null;
    const zone = readerZone({ user, cookie: req.headers.cookie });
    const answer = (found: PageRead): boolean => {
      if (!identity.mayOpen(found.job, user)) return false;
      let made;
      try {
        made = statusFragment(renderer, found, pollQuery(poll.query), { settings: config, htmx, zone });
      } catch {
        return false;
      }
      const { body, headers } = wire(made);
      res.writeHead(made.status, made.message, headers);
      res.end(body);
      polls.served++;
      return true;
    };
    // A job the cache keeps is answered at once, without a promise.
    const kept = pages.peek(poll.id);
    if (kept && answer(kept)) return;
    const read = kept ? Promise.resolve(kept) : pages.read(poll.id);
    read.then(
      (found) => {
        if (!found || !answer(found)) handOn();
      },
      () => handOn(),
    );
    function handOn(): void {
      rememberRead(req, read);
      void koa(req, res);
    }
  };
}

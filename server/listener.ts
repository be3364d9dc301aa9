// The server's request listener: main.ts runs http.createServer(listener).
//
// It answers the status poll itself and hands every other request to Koa.
// Every open status page asks every 2 s, so the poll is the request a server
// sees most, and it needs none of Koa's middleware. It answers only the
// common case, a job that exists; anything else (no such job, Redis
// unreachable, a HEAD, a JSON client) goes to the Koa route in routes/jobs.ts, which
// renders errors as every other page does. The read already made travels
// with the request, so Redis is asked once. Why this path exists, and what it
// saves: bench/README.md ("The status poll").
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type Koa from "koa";
import type { JobStore } from "../jobs/store.ts";
import type { Config } from "./config.ts";
import type { Renderer } from "./render.ts";
import { SECURITY_HEADERS } from "./security.ts";
import { pollQuery, readForPage, rememberRead, statusFragment } from "./status.ts";
import { matchStatusPoll } from "./urls.ts";
import type { PollTally } from "./request-log.ts";

export interface ListenerDeps {
  app: Koa;
  store: JobStore;
  renderer: Renderer;
  config: Config;
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

export function createRequestListener({ app, store, renderer, config, polls }: ListenerDeps): RequestListener {
  const koa = app.callback();
  return function listener(req: IncomingMessage, res: ServerResponse): void {
    const poll = req.method === "GET" && req.url ? matchStatusPoll(req.url) : null;
    const htmx = req.headers["hx-request"] === "true";
    // A JSON client (not htmx) gets the job as JSON from the Koa route, which negotiates.
    if (!poll || (!htmx && req.headers.accept?.includes("json"))) {
      void koa(req, res);
      return;
    }
    const read = readForPage(store, poll.id);
    read.then(
      (found) => {
        if (!found) return handOn();
        let answer;
        try {
          answer = statusFragment(renderer, found, pollQuery(poll.query), { settings: config, htmx });
        } catch {
          return handOn();
        }
        res.writeHead(answer.status, answer.message, { ...POLL_HEADERS, "Content-Length": Buffer.byteLength(answer.body) });
        res.end(answer.body);
        polls.served++;
      },
      () => handOn(),
    );
    function handOn(): void {
      rememberRead(req, read);
      void koa(req, res);
    }
  };
}

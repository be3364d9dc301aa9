// Talking to a running app over HTTP, as a client would: send the count form,
// read a job as JSON, wait for a job to reach a state.
import http from "node:http";
import type { JobRecord, JobStore } from "../../jobs/core/store.ts";
import { DEFAULT_TIMEOUT, waitFor } from "./wait.ts";

export type Form = Record<string, string>;

/** A count that runs long enough to watch, cancel or kill. */
export const LONG_COUNT: Form = { start: "1", end: "1000", increment: "1" };

/**
 * A GET on a keep-alive agent, for loops of many requests (churn, the bench):
 * fetch costs several times the CPU, which the same process needs for other work.
 */
export function getWith(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

/** POSTs a urlencoded form (or a raw body), without following redirects. */
export function post(url: string, form: Form | string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body: typeof form === "string" ? form : new URLSearchParams(form).toString(),
  });
}

/**
 * POST /count and return the new job's id: as the form sends it (303), or
 * with { json: true } as a JSON client does (202).
 */
export async function submit(url: string, form: Form, { json = false } = {}): Promise<string> {
  const res = json
    ? await fetch(`${url}/count`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(form),
      })
    : await post(`${url}/count`, form);
  if (res.status !== (json ? 202 : 303)) throw new Error(`POST /count answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer().catch(() => {});
  return res.headers.get("location")!.split("/").pop()!;
}

/** A job as GET /jobs/:id answers a JSON client. */
export interface JobJson {
  id: string;
  type: string;
  state: string;
  params: Record<string, unknown>;
  done: number;
  total: number;
  results: number[];
  /** Only with SHOW_JOB_INTERNALS (serverEnv turns it on). */
  pid?: number | null;
  host?: string | null;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  error: string | null;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Which attempt this is, and the attempts that ended and were retried (docs/job-types.md, "Retries"). */
  attempt: number;
  attempts: { attempt: number; reason: string; endedAt: string }[];
}

export async function jobJson(url: string, id: string): Promise<JobJson> {
  const res = await fetch(`${url}/jobs/${id}`, { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`GET /jobs/${id} answered ${res.status}`);
  return (await res.json()) as JobJson;
}

/**
 * Reads a job until its state is one of `states`, from an app's URL (as JSON)
 * or straight from its store.
 */
export function waitForState(source: string, id: string, states: string | readonly string[], timeout?: number): Promise<JobJson>;
export function waitForState(source: JobStore, id: string, states: string | readonly string[], timeout?: number): Promise<JobRecord>;
export async function waitForState(
  source: string | JobStore,
  id: string,
  states: string | readonly string[],
  timeout = DEFAULT_TIMEOUT,
): Promise<JobJson | JobRecord> {
  const wanted: readonly string[] = typeof states === "string" ? [states] : states;
  const read = typeof source === "string" ? () => jobJson(source, id) : () => source.read(id, "all");
  let last: JobJson | JobRecord | null = null;
  return waitFor(
    async () => {
      last = await read();
      return last && wanted.includes(last.state) ? last : null;
    },
    { timeout, message: () => `job ${id} to be ${wanted.join(" or ")} (it is ${JSON.stringify(last)})` },
  );
}

/** What a page answered, read over and over (every 50 ms) until stop(): statuses, failed requests, the first 503's body. */
export interface AnswerWatch {
  statuses: number[];
  /** Requests that got no answer at all (the server gone or not accepting). */
  failures: string[];
  first503: string;
  stop(): Promise<void>;
}

export function watchAnswers(url: string, headers: Record<string, string> = { Accept: "text/html" }): AnswerWatch {
  let watching = true;
  const watch: AnswerWatch = {
    statuses: [],
    failures: [],
    first503: "",
    async stop() {
      watching = false;
      await loop;
    },
  };
  const loop = (async () => {
    while (watching) {
      try {
        const res = await fetch(url, { headers });
        const body = await res.text();
        watch.statuses.push(res.status);
        if (res.status === 503 && !watch.first503) watch.first503 = body;
      } catch (err) {
        watch.failures.push((err as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return watch;
}

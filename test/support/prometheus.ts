// Prometheus' own tools, for the tests that check /metrics against them:
//   promtool(args, stdin)        runs promtool (`check metrics` reads the exposition on stdin)
//   startPrometheus(t, options)  a real Prometheus server in a temporary folder, scraping one target
// Both come with Debian's `prometheus` package (.ci/run installs it). A
// missing binary is an error, so the test fails: it is never skipped.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext } from "ava";
import { freePort } from "./ports.ts";
import { waitFor, within } from "./wait.ts";

const INSTALL_HINT = "install Debian's prometheus package (apt-get install prometheus), which has both prometheus and promtool";

/** The absolute path of a program on PATH; throws, naming the package, when it is not there. */
function which(program: string): string {
  try {
    return execFileSync("/bin/sh", ["-c", 'command -v "$0"', program], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`${program} is not on PATH: ${INSTALL_HINT}`);
  }
}

/** Runs promtool with `input` on its standard input; resolves with its exit code and everything it wrote. */
export async function promtool(args: string[], input: string): Promise<{ code: number | null; output: string }> {
  const proc = spawn(which("promtool"), args, { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  proc.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const closed = new Promise<number | null>((resolve) => proc.once("close", resolve));
  proc.stdin.end(input);
  const code = await within(closed, 30_000, "promtool to finish");
  return { code, output };
}

export interface PrometheusOptions {
  /** host:port of the target it scrapes (as `static_configs` names it). */
  target: string;
  /** The bearer token the target wants (METRICS_TOKEN). */
  token: string;
  /** How often it scrapes (default 1s). */
  scrapeInterval?: string;
}

export interface PrometheusServer {
  url: string;
  /** An instant query (GET /api/v1/query): the result vector, each sample's labels and value. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  output(): string;
}

/**
 * Prometheus on a free loopback port, its data and config in a temporary
 * folder, with the scrape config docs/operations.md gives. Stopped (and its
 * folder removed) when the test ends. Resolves once it says it is ready.
 */
export async function startPrometheus(
  t: ExecutionContext,
  { target, token, scrapeInterval = "1s" }: PrometheusOptions,
): Promise<PrometheusServer> {
  const binary = which("prometheus");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-prometheus-"));
  const config = path.join(dir, "prometheus.yml");
  fs.writeFileSync(
    config,
    [
      "global:",
      `  scrape_interval: ${scrapeInterval}`,
      `  scrape_timeout: ${scrapeInterval}`,
      "scrape_configs:",
      "  - job_name: sidejob",
      `    authorization: { credentials: ${JSON.stringify(token)} }`,
      `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
      "",
    ].join("\n"),
  );
  const port = await freePort();
  const proc = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Its own console files are not needed, and the package's defaults point at /etc.
      `--web.console.templates=${dir}`,
      `--web.console.libraries=${dir}`,
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  for (const stream of [proc.stdout, proc.stderr]) stream.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<void>((resolve) => proc.once("close", () => resolve()));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  // Set-up, not under test: a busy machine can take seconds to start it.
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited: ${out}`);
      return (await fetch(`${url}/-/ready`).catch(() => null))?.status === 200;
    },
    { timeout: 60_000, interval: 200, message: () => `prometheus to be ready (output: ${out})` },
  );
  return {
    url,
    output: () => out,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== "success" || body.data?.resultType !== "vector")
        throw new Error(`query ${expr}: ${body.error ?? JSON.stringify(body)}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}

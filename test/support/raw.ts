// Clients that misbehave, on raw TCP sockets: they never read, send slowly,
// pipeline without waiting, or connect and say nothing. For the tests that
// prove the server holds up under them (test/hostile.test.ts).
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";

/** Opens a TCP connection to 127.0.0.1:port; resolves once connected. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Resolves when the socket has closed (the server closed it, or it was destroyed). */
export function closed(socket: net.Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once("close", () => resolve()));
}

/**
 * `n` connections that send nothing (they read, so they see the server close
 * them), opened `batch` at a time (the listen backlog is finite).
 */
export async function idleConnections(port: number, n: number, batch = 200): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += batch) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => connect(port)))));
  }
  for (const socket of sockets) socket.resume();
  return sockets;
}

/**
 * Sends `head` at once, then `text` a few bytes at a time, one piece every
 * `everyMs`, until the text is sent or the server closes the connection.
 * Returns the socket and what the server answered, once it closed.
 */
export async function trickle(
  port: number,
  head: string,
  text: string,
  everyMs = 250,
  piece = 1,
): Promise<{ socket: net.Socket; answer: Promise<string> }> {
  const socket = await connect(port);
  socket.write(head);
  let answer = "";
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= text.length) return clearInterval(timer);
    socket.write(text.slice(sent, sent + piece));
    sent += piece;
  }, everyMs);
  return {
    socket,
    answer: closed(socket).then(() => {
      clearInterval(timer);
      return answer;
    }),
  };
}

/**
 * `connections` sockets, each sending `requests` copies of `request` at once
 * (pipelined), then as many again each time the last batch has been written,
 * and never reading; a socket the server closes is opened again at once,
 * until stop(). Counts how many connections it opened.
 */
export function pipelineFlood(
  port: number,
  request: string,
  { connections = 50, requests = 1000 } = {},
): { stop(): void; opened(): number } {
  const payload = Buffer.from(request.repeat(requests), "latin1");
  const sockets = new Set<net.Socket>();
  let stopped = false;
  let opened = 0;
  const open = () => {
    if (stopped) return;
    opened++;
    const socket = net.connect(port, "127.0.0.1");
    sockets.add(socket);
    socket.pause(); // never reads
    socket.on("error", () => {});
    const send = (err?: Error | null) => {
      if (!err && !stopped && !socket.destroyed) socket.write(payload, send);
    };
    socket.once("connect", () => send());
    socket.once("close", () => {
      sockets.delete(socket);
      // Not in a tight loop: the next turn of the event loop.
      setImmediate(open);
    });
  };
  for (let i = 0; i < connections; i++) open();
  return {
    stop() {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
    opened: () => opened,
  };
}

/** Resident memory of a process in MB, from /proc/<pid>/status (VmRSS). */
export function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

/** File descriptors a process has open now. */
export function openDescriptors(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * pipelineFlood() in a process of its own, as an attacker on another machine
 * would be: the test's own event loop stays free to measure. Resolves once it
 * runs; stop() ends it and resolves with how many connections it opened.
 */
export async function pipelineFloodProcess(
  port: number,
  request: string,
  options: { connections?: number; requests?: number } = {},
): Promise<{ stop(): Promise<number> }> {
  // At the lowest priority: an attacker's own CPU is not the server's, and other tests share this machine.
  const argv = [
    "-n",
    "19",
    process.execPath,
    "--import=tsx",
    fileURLToPath(import.meta.url),
    "flood",
    String(port),
    JSON.stringify({ request, ...options }),
  ];
  const child = spawn("nice", argv, { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", () => out.includes("flooding") && resolve());
    child.once("exit", () => reject(new Error(`the flood process exited: ${out}`)));
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    async stop() {
      child.stdin.end();
      await exited;
      return Number(/opened (\d+)/.exec(out)?.[1] ?? 0);
    },
  };
}

// Run as a script: node --import=tsx raw.ts flood <port> <json options>; stops when its stdin closes.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "flood") {
  const { request, ...options } = JSON.parse(process.argv[4]!) as { request: string; connections?: number; requests?: number };
  const flood = pipelineFlood(Number(process.argv[3]), request, options);
  process.stdout.write("flooding\n");
  process.stdin.resume();
  process.stdin.on("end", () => {
    flood.stop();
    process.stdout.write(`opened ${flood.opened()}\n`, () => process.exit(0));
  });
}

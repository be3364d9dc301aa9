// MONITOR on a socket of its own: every command Redis runs, with its
// arguments and where it came from ("lua" for the commands a script runs).
// Not ioredis' monitor(): it switches to monitor mode a microtask after the
// OK, so a monitor line that arrives in the same read as the OK (a busy
// machine batches them) is taken for a reply and throws "Command queue state
// error" out of the socket's handler.
import net from "node:net";

export interface Monitor {
  close(): void;
}

/** Calls onCommand for each command Redis runs from now on; resolves once Redis has said OK to MONITOR. */
export function monitorRedis(url: string, onCommand: (args: string[], source: string) => void): Promise<Monitor> {
  const where = url.startsWith("unix://")
    ? { path: url.slice("unix://".length) }
    : { host: new URL(url).hostname, port: Number(new URL(url).port) };
  const socket = net.createConnection(where);
  return new Promise((resolve, reject) => {
    let buffered = "";
    let ready = false;
    socket.once("error", reject);
    socket.on("connect", () => socket.write("MONITOR\r\n"));
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let end: number;
      while ((end = buffered.indexOf("\r\n")) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!ready) {
          if (line !== "+OK") return reject(new Error(`MONITOR answered ${line}`));
          ready = true;
          resolve({ close: () => socket.destroy() });
          continue;
        }
        // +<time> [<db> <source>] "arg" "arg" …
        const head = /^\+[\d.]+ \[\d+ ([^\]]+)\] /.exec(line);
        if (!head) continue;
        const args = [...line.slice(head[0].length).matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
        onCommand(args, head[1]!);
      }
    });
  });
}

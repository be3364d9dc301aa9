// The HTTP server's own handling of pipelined requests (server/http-server.ts),
// with a plain listener and raw sockets: how many requests of a read Node is
// given to parse, and that what a client pipelines within the limits is still
// answered, in order, however its bytes are cut.
import net from "node:net";
import type { AddressInfo } from "node:net";
import test from "ava";
import { createHttpServer, HTTP_LIMITS, type HttpServer } from "../../server/http-server.ts";

/** A server whose answer is the request's path and body ("/a"), or `big` bytes for /big. */
async function listen(
  t: { teardown(fn: () => unknown): void },
  big = 0,
): Promise<{ server: HttpServer; port: number; parsed: () => number }> {
  const server = createHttpServer(
    (req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => res.end(req.url === "/big" ? "x".repeat(big) : `${req.url} ${body}`.trim()));
    },
    { allowedHosts: "*" },
  );
  let parsed = 0;
  server.on("request", () => parsed++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { server, port: (server.address() as AddressInfo).port, parsed: () => parsed };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const post = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** The bodies of the answers in `text`, in order (each with a Content-Length, as res.end() sends it). */
function bodies(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end === -1) return out;
    const length = /^content-length: (\d+)$/im.exec(text.slice(at, end));
    if (!length || text.length < end + 4 + Number(length[1])) return out;
    out.push(text.slice(end + 4, end + 4 + Number(length[1])));
    at = end + 4 + Number(length[1]);
  }
}

/** Writes each part (20 ms apart), and resolves with the answers' bodies once `answers` have come, or the server closed. */
function exchange(
  port: number,
  parts: string[],
  answers: number,
  { readAfterMs = 0 } = {},
): Promise<{ bodies: string[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    let closed = false;
    const done = () => {
      socket.destroy();
      resolve({ bodies: bodies(text), closed });
    };
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (bodies(text).length >= answers) done();
    });
    socket.on("close", () => {
      closed = true;
      done();
    });
    if (readAfterMs > 0) {
      socket.pause();
      setTimeout(() => socket.resume(), readAfterMs);
    }
    socket.once("connect", async () => {
      for (const part of parts) {
        socket.write(part);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

test("a read of 1,000 pipelined requests: the connection is closed, and Node parsed only the requests it waited for, not the rest of the read", async (t) => {
  const { port, parsed } = await listen(t);
  const { closed } = await exchange(port, [get("/a").repeat(1000)], 1000);
  t.true(closed);
  // The one in flight, those waiting behind it, and the one too many.
  t.true(parsed() <= HTTP_LIMITS.MAX_PIPELINED + 2, `${parsed()} requests parsed`);
});

test("requests pipelined within the limit are answered in order, whether a read holds several or a head is cut across reads", async (t) => {
  const { port } = await listen(t);
  const all = get("/a") + post("/b", "one\r\n\r\ntwo") + get("/c") + get("/d");
  // In one write; then cut inside a head, inside a body, and between the \r\n of a head's end.
  const cuts = [
    [all],
    [all.slice(0, 10), all.slice(10, 60), all.slice(60)],
    [all.slice(0, all.indexOf("\r\n\r\n") + 2), all.slice(all.indexOf("\r\n\r\n") + 2)],
  ];
  for (const parts of cuts) {
    const { bodies } = await exchange(port, parts, 4);
    t.deepEqual(bodies, ["/a", "/b one\r\n\r\ntwo", "/c", "/d"], JSON.stringify(parts.map((p) => p.length)));
  }
});

test("a client that reads its first answer late still gets the answers to what it pipelined behind it, once it reads", async (t) => {
  // An answer larger than the socket's buffers: Node pauses the connection until the client reads.
  const big = 8 * 1024 * 1024;
  const { port } = await listen(t, big);
  const { bodies: answers } = await exchange(port, [get("/big") + get("/a") + get("/b")], 3, { readAfterMs: 300 });
  t.is(answers.length, 3);
  t.is(answers[0]!.length, big);
  t.deepEqual(answers.slice(1), ["/a", "/b"]);
});

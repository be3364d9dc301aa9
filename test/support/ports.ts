// A TCP port nothing listens on (the moment it is returned), for a server a
// test starts. Chosen below the kernel's ephemeral range (ip_local_port_range,
// 32768-60999 by default): a port the kernel picks with listen(0) comes from
// the range it also gives to outgoing connections, so any client connecting
// meanwhile could take it before the server binds it (a cluster node of a
// test once failed to start that way). Random within the range below, so
// test files running side by side rarely pick the same one.
import fs from "node:fs";
import net from "node:net";

const LOWEST = 20_000;

/** The first port of the kernel's ephemeral range (where ours must stop). */
function ephemeralStart(): number {
  try {
    const first = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + 1000 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

const HIGHEST = ephemeralStart() - 1;

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (await tryListen(port)) return port;
  }
  throw new Error(`no free port between ${LOWEST} and ${HIGHEST} after 100 tries`);
}

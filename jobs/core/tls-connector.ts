// The connector of a TLS connection to one Redis (or one Cluster node): what
// ioredis' own StandaloneConnector does for a host and a port, plus one
// listener for the socket's errors that stays for the socket's life. ioredis
// listens with once(): a TLS socket that reports a second error (a handshake
// cut by the connect timeout on a starved host, then the server's alert)
// would throw it as an uncaught exception and end the process. The first
// error still reaches ioredis, which reconnects as usual.
import tls from "node:tls";
import { AbstractConnector, type RedisOptions } from "ioredis";

type Options = Pick<RedisOptions, "host" | "port" | "family" | "tls" | "disconnectTimeout">;

export class TlsConnector extends AbstractConnector {
  private readonly options: Options;

  // ioredis gives a connector its options untyped (ConnectorConstructor).
  constructor(options: unknown) {
    const given = options as Options;
    super(given.disconnectTimeout ?? 2000);
    this.options = given;
  }

  connect(): Promise<tls.TLSSocket> {
    this.connecting = true;
    const { host, port, family } = this.options;
    return new Promise((resolve, reject) => {
      // On the next tick, as ioredis' own connector: a disconnect() called right after connect() wins.
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error("Connection is closed."));
          return;
        }
        let socket: tls.TLSSocket;
        try {
          socket = tls.connect({
            ...(host ? { host } : {}),
            ...(port ? { port } : {}),
            ...(family ? { family } : {}),
            ...this.options.tls,
          });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        this.stream = socket;
        socket.on("error", () => {});
        socket.once("error", (err: Error) => {
          this.firstError = err;
        });
        resolve(socket);
      });
    });
  }
}

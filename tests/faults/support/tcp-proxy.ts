import net from "node:net";
import { withTimeout } from "./server";

export type TcpProxy = {
  port: number;
  /** Proxied connections currently open. */
  openConnections: () => number;
  /** The database "goes away": every proxied connection is reset and new ones are refused. */
  cut: () => Promise<void>;
  /**
   * The database stops answering without saying so (a network partition, a frozen host): open
   * connections stop carrying bytes and new ones are accepted but never answered. Nothing is reset.
   */
  stall: () => void;
  /** The database is reachable again, on the same port (connections from before a stall stay dead: cut first). */
  restore: () => Promise<void>;
  close: () => Promise<void>;
};

type Pair = { client: net.Socket; upstream?: net.Socket };

/**
 * A TCP proxy in the test process between the server and PostgreSQL, so the test can take the database
 * away and give it back without touching PostgreSQL itself (other suites share it).
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let server: net.Server | undefined;
  let stalled = false;

  const onConnection = (client: net.Socket) => {
    const pair: Pair = { client };
    pairs.add(pair);
    client.on("error", () => {});
    if (stalled) {
      // Accepted, then silence: the client waits for PostgreSQL's answer to its startup message.
      client.pause();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    pair.upstream = upstream;
    const teardown = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", teardown);
    upstream.on("error", teardown);
    client.on("close", teardown);
    upstream.on("close", teardown);
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const listen = async (port: number) => {
    const next = net.createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => {
        next.off("error", reject);
        resolve();
      });
    });
    server = next;
    return (next.address() as net.AddressInfo).port;
  };

  const cut = async () => {
    const current = server;
    server = undefined;
    const closed = current ? new Promise<void>((resolve) => current.close(() => resolve())) : undefined;
    for (const pair of [...pairs]) {
      // A reset, not a polite FIN: the client learns at once that its connection is gone, like a crash.
      pair.client.resetAndDestroy();
      pair.upstream?.destroy();
      pairs.delete(pair);
    }
    if (closed) await withTimeout(closed, 5_000, "the proxy did not stop listening");
  };

  const port = await listen(0);
  return {
    port,
    openConnections: () => pairs.size,
    cut,
    stall: () => {
      stalled = true;
      for (const pair of pairs) {
        pair.client.unpipe();
        pair.upstream?.unpipe();
        pair.client.pause();
        pair.upstream?.pause();
      }
    },
    restore: async () => {
      stalled = false;
      if (!server) await listen(port);
    },
    close: cut,
  };
}

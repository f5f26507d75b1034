import http from "node:http";
import type net from "node:net";
import { withTimeout } from "./server";

/** What happened to one request the proxy sent to an instance. */
export type Forwarded = {
  /** Index of the instance in the proxy's target list. */
  target: number;
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  /** The instance's status, or what went wrong before it answered. */
  outcome:
    | { kind: "answered"; status: number }
    /** The connection was refused: nothing reached the instance, so the request went to the next one. */
    | { kind: "refused" }
    /** The connection broke before the instance answered: the client got a 502 (it may have been applied). */
    | { kind: "failed"; error: string };
  startedAt: number;
  endedAt: number;
};

export type RoundRobinProxy = {
  url: string;
  /** The instances, in the order requests are handed out; set once they listen. */
  setTargets: (urls: string[]) => void;
  /** Every request sent on to an instance so far (a refused one appears once per instance tried). */
  forwarded: () => readonly Forwarded[];
  /** Requests sent to this instance and not finished yet. */
  inFlight: (target: number) => number;
  close: () => Promise<void>;
};

/** An instance that refused a connection is skipped for this long, then tried again. */
const DOWN_FOR_MS = 5_000;
/** Per instance, like a load balancer's upstream keep-alive pool; more requests queue in the proxy. */
const SOCKETS_PER_INSTANCE = 16;
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
  "content-length",
]);

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const kept: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) kept[name] = value;
  return kept;
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function badGateway(response: http.ServerResponse, message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: "bad_gateway", message, retryable: true } });
  response.writeHead(502, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  response.end(body);
}

/**
 * A small HTTP reverse proxy on 127.0.0.1 that hands requests to the instances in turn (round robin), the
 * way a load balancer in front of several app instances does. Its failure rules are nginx's defaults for
 * requests that are not idempotent: a refused connection means the request never reached that instance,
 * so it goes to the next one (and the refusing instance is skipped for a while); a connection that breaks
 * after the request was sent is answered 502 to the client, because the instance may have applied it —
 * only the client, with its Idempotency-Key, can safely send it again.
 * Request bodies are read whole before forwarding (the API's bodies are small), so a refused request can
 * be sent again.
 */
export async function startRoundRobinProxy(): Promise<RoundRobinProxy> {
  let targets: { url: URL; agent: http.Agent; downUntil: number; inFlight: number }[] = [];
  const log: Forwarded[] = [];
  let next = 0;

  /** The next instance in turn that is not marked down and not tried for this request yet. */
  const pick = (tried: Set<number>): number | undefined => {
    const now = Date.now();
    for (let step = 0; step < targets.length; step++) {
      const index = (next + step) % targets.length;
      const target = targets[index];
      if (!target || tried.has(index) || target.downUntil > now) continue;
      next = index + 1;
      return index;
    }
    // Every instance not tried yet is marked down: try them anyway rather than refuse outright.
    for (let index = 0; index < targets.length; index++) if (!tried.has(index)) return index;
    return undefined;
  };

  const forward = (
    index: number,
    request: http.IncomingMessage,
    body: Buffer,
    response: http.ServerResponse,
  ): Promise<"done" | "refused"> => {
    const target = targets[index];
    if (!target) throw new Error(`no target ${index}`);
    const entry: Forwarded = {
      target: index,
      method: request.method ?? "GET",
      path: request.url ?? "/",
      idempotencyKey: request.headers["idempotency-key"] as string | undefined,
      outcome: { kind: "failed", error: "pending" },
      startedAt: performance.now(),
      endedAt: Number.NaN,
    };
    log.push(entry);
    target.inFlight += 1;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome: Forwarded["outcome"], result: "done" | "refused") => {
        if (settled) return;
        settled = true;
        target.inFlight -= 1;
        entry.outcome = outcome;
        entry.endedAt = performance.now();
        resolve(result);
      };
      const forwardedFor = [request.headers["x-forwarded-for"], request.socket.remoteAddress]
        .filter(Boolean)
        .join(", ");
      const upstream = http.request(
        {
          host: target.url.hostname,
          port: target.url.port,
          method: request.method,
          path: request.url,
          agent: target.agent,
          headers: {
            ...endToEnd(request.headers),
            host: target.url.host,
            "content-length": body.length,
            "x-forwarded-for": forwardedFor,
          },
        },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
          answer.pipe(response);
          answer.on("end", () => settle({ kind: "answered", status: answer.statusCode ?? 0 }, "done"));
          // The status line went out; a body cut off by a crash is the client's to notice.
          answer.on("error", () => {
            response.destroy();
            settle({ kind: "answered", status: answer.statusCode ?? 0 }, "done");
          });
        },
      );
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        if (settled) return;
        if (error.code === "ECONNREFUSED") {
          target.downUntil = Date.now() + DOWN_FOR_MS;
          settle({ kind: "refused" }, "refused");
          return;
        }
        const reason = error.code ?? error.message;
        badGateway(response, `instance ${index} failed before answering: ${reason}`);
        settle({ kind: "failed", error: reason }, "done");
      });
      upstream.end(body);
    });
  };

  const server = http.createServer(async (request, response) => {
    let body: Buffer;
    try {
      body = await readBody(request);
    } catch {
      response.destroy();
      return;
    }
    const tried = new Set<number>();
    for (;;) {
      const index = pick(tried);
      if (index === undefined) {
        badGateway(response, "no instance accepted the connection");
        return;
      }
      tried.add(index);
      if ((await forward(index, request, body, response)) === "done") return;
    }
  });
  server.keepAliveTimeout = 60_000;
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    setTargets: (urls) => {
      for (const target of targets) target.agent.destroy();
      targets = urls.map((url) => ({
        url: new URL(url),
        agent: new http.Agent({ keepAlive: true, maxSockets: SOCKETS_PER_INSTANCE }),
        downUntil: 0,
        inFlight: 0,
      }));
      next = 0;
    },
    forwarded: () => log,
    inFlight: (target) => targets[target]?.inFlight ?? 0,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      for (const target of targets) target.agent.destroy();
      await withTimeout(closed, 5_000, "the proxy did not stop listening");
    },
  };
}

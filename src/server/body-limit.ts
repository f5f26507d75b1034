import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/**
 * Refuses a request body larger than `maxBytes` before the route's handler runs, answering `refuse()`
 * (the route's 413). A body sent without a length (chunked) is read by Hono's body limit, which stops
 * reading as soon as it passes the limit, so an endless body never fills memory, and hands the handler
 * the bytes it read. A body of declared length is judged by its Content-Length alone, as Hono's body limit
 * judges it (the HTTP parser delivers exactly that many bytes), but without asking for the request's
 * body stream first as Hono's does: under the Node.js adapter that wraps the socket in a web stream, the
 * costliest part of a spend's request handling (BENCHMARKS.md), where the handler's `arrayBuffer()`
 * otherwise reads the bytes in one go. Requests that carry no body (GET, HEAD) pass untouched.
 */
export function limitBody(maxBytes: number, refuse: (c: Context) => Response): MiddlewareHandler {
  const limitStream = bodyLimit({ maxSize: maxBytes, onError: refuse });
  return async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const declaredLength = c.req.header("content-length");
    if (declaredLength !== undefined && c.req.header("transfer-encoding") === undefined) {
      return Number.parseInt(declaredLength, 10) > maxBytes ? refuse(c) : next();
    }
    // Hono's body limit hands the handler a Request made from this one (`new Request(request, { body })`),
    // which the platform's Request constructor refuses when given the Node.js adapter's own request object
    // (`npm start` keeps the platform's Request and Response for Next.js: src/server/production-entry.ts).
    // A platform Request over the same body stream first; only bodies without a length come here.
    const { raw } = c.req;
    c.req.raw = new Request(raw.url, {
      method: raw.method,
      headers: raw.headers,
      body: raw.body,
      signal: raw.signal,
      duplex: "half",
    } as RequestInit);
    return limitStream(c, next);
  };
}

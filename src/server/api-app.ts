import type { HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { type Context, Hono } from "hono";
import { limitBody } from "./body-limit";
import { DEFAULT_MAX_BODY_BYTES, type RouteDefinition, routeMethods } from "./define-route";
import { errorResponse, jsonError } from "./http-errors";
import { dispatcherWritesJsonReplies, JsonReply } from "./json-response";
import { RequestError } from "./request";

/** `{name}` → `:name` (Hono's form); a trailing `/*` stays. */
function honoPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ":$1");
}

/** Whether `pathname` is one of the paths `route` serves (any method). */
export function routeServesPath(route: RouteDefinition, pathname: string): boolean {
  return pathPattern(route.path).test(pathname);
}

function pathPattern(path: string): RegExp {
  const source = path
    .split(/(\{\w+\}|\/\*$)/)
    .map((part) =>
      /^\{\w+\}$/.test(part) ? "[^/]+" : part === "/*" ? "/.*" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("");
  return new RegExp(`^${source}$`);
}

/** A complete web Response (Hono sends what these return itself). */
function asResponse(response: Response): Response {
  return response instanceof JsonReply ? response.toResponse() : response;
}

/**
 * Every route of the app as one Hono application, built from the route definitions (src/routes/index.ts).
 * It is what answers /api/* everywhere: under `npm start` the production server hands those requests to it
 * directly, without Next.js's request pipeline, which costs more CPU per request than the spend behind it
 * (BENCHMARKS.md, scenario 2); under `next dev` and `next start` Next.js hands them to it through
 * src/app/api/[...path]/route.ts. So every host serves the same code at the same paths with the same answers.
 *
 * Under the Node.js adapter (`npm start`), a JSON answer made by jsonResponse() is written to the socket
 * as text (JsonReply): building a web stream for it costs more than the rest of a spend's handling.
 * An unknown path answers 404 and a known path asked with another method 405, both in the API's JSON
 * error shape, as does anything a handler failed to answer. A body past its route's limit (maxBodyBytes,
 * 16 KiB unless the route says otherwise) is refused with 413 before the handler runs (limitBody).
 */
export function createApiApp(routes: readonly RouteDefinition[]): Hono<{ Bindings: Partial<HttpBindings> }> {
  const app = new Hono<{ Bindings: Partial<HttpBindings> }>();
  // Next.js answers a path with a trailing slash or repeated slashes with a 308 to the normal path before
  // its catch-all runs (trailingSlash: false); the same answer here, so both hosts agree.
  app.use(async (c, next) => {
    const url = new URL(c.req.url);
    const normal = url.pathname.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1");
    if (normal === url.pathname) return next();
    return new Response(null, { status: 308, headers: { location: `${normal}${url.search}` } });
  });
  for (const route of routes) {
    const maxBodyBytes = route.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const tooLarge = (c: Context) => {
      const error = new RequestError("payload_too_large", `The body is larger than ${maxBodyBytes} bytes.`);
      if (route.answerError) return asResponse(route.answerError(error));
      return asResponse(errorResponse(error, { path: new URL(c.req.url).pathname }));
    };
    app.on(routeMethods(route), honoPath(route.path), limitBody(maxBodyBytes, tooLarge), async (c) => {
      const response = await route.handler(c.req.raw, { params: Promise.resolve(c.req.param()) });
      if (!(response instanceof JsonReply)) return response;
      const outgoing = c.env?.outgoing;
      if (!outgoing) return response.toResponse();
      const headers: Record<string, string> = Object.fromEntries(response.headers);
      headers["content-length"] = String(Buffer.byteLength(response.jsonText));
      outgoing.writeHead(response.status, headers);
      outgoing.end(response.jsonText);
      return RESPONSE_ALREADY_SENT;
    });
  }
  const patterns = routes.map((route) => ({
    pattern: pathPattern(route.path),
    methods: routeMethods(route),
  }));
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = patterns.filter(({ pattern }) => pattern.test(path)).flatMap(({ methods }) => methods);
    if (allowed.length === 0) return asResponse(jsonError(404, "not_found", "Not found."));
    const methods = [...new Set(allowed)];
    const response = asResponse(jsonError(405, "method_not_allowed", `Use ${methods.join(" or ")}.`));
    response.headers.set("allow", methods.join(", "));
    return response;
  });
  // The route wrappers answer their own failures; anything that escapes them still gets the API's JSON
  // error shape (and a log line), never a bare text 500.
  app.onError((error, c) => {
    return asResponse(errorResponse(error, { path: new URL(c.req.url).pathname }));
  });
  return app;
}

/**
 * The app's routes served by the Node.js adapter (`npm start`): JSON answers are written as text from here
 * on in this process (see JsonReply).
 */
export function createNodeApiApp(routes: readonly RouteDefinition[]) {
  dispatcherWritesJsonReplies();
  return createApiApp(routes);
}

import type { z } from "zod";
import type { Database } from "@/db/types";
import type { ApiScope } from "@/service-api/api-scopes";

/**
 * A service-API operation as its OpenAPI document describes it (src/server/openapi-document.ts adds what
 * every operation shares: the API key, the Idempotency-Key of mutations, the common error answers).
 */
export type ServiceOperation = {
  summary: string;
  description: string;
  /** The JSON body's schema (the same one the handler validates with); its `meta({ id })` names it. */
  body?: z.ZodType;
  /** The query string's parameters, as the document shows them. */
  query?: z.ZodObject;
  ok: { status: number; schema: z.ZodType };
  /** A second success status with the same body (PUT: 201 when it created, `ok` when it updated). */
  alsoOk?: { status: number; description: string };
  /** The operation's own error statuses; the common ones are added. */
  errors: number[];
  /**
   * Answers stored with the Idempotency-Key besides the success (the route returns them rather than
   * throwing, so they commit): a retry gets them again with `Idempotent-Replayed: true`.
   */
  replayedErrors?: number[];
};

/**
 * The HTTP methods routes answer (PUT, PATCH and DELETE: the browser API's subscription changes and the
 * sandbox's card on file).
 */
export type RouteMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * One HTTP route: everything about it is here, and everything else is derived from it: the dispatch
 * under `npm start` and under Next.js (src/server/api-app.ts, mounted by src/app/api/[...path]/route.ts)
 * and, for the service API, its entry in the OpenAPI document.
 */
export type RouteDefinition = {
  method: RouteMethod | readonly RouteMethod[];
  /** As OpenAPI writes it: `{name}` for a path parameter; a trailing `/*` for everything below. */
  path: string;
  /** The service API's document entry; routes without one are not in the document. */
  operation?: ServiceOperation;
  /**
   * The API-key scope the route needs (src/service-api/api-scopes.ts): required of every route whose
   * handler checks an API key (withApiKey, withApiMutation), and absent from every other route. The key is
   * checked against it before the handler runs (403 `insufficient_scope`), and the OpenAPI document shows
   * it; a later route names its scope here and gets both.
   */
  scope?: ApiScope;
  /**
   * The largest request body the route takes, in bytes (default DEFAULT_MAX_BODY_BYTES). A larger one is
   * refused with 413 `payload_too_large` before the handler runs (src/server/body-limit.ts), so no handler
   * reads a body past its route's limit.
   */
  maxBodyBytes?: number;
  /**
   * The route's answer to a failure found before its handler runs (a body past maxBodyBytes), for a route
   * whose clients read another error shape than the API's (default: errorResponse, src/server/http-errors.ts).
   */
  answerError?: (error: unknown) => Response;
  /**
   * The handler, as the wrappers build it (withApiKey, withApiMutation, withUser); `params` holds the
   * path's parameters by name (a method, so a handler typed for its own parameters, e.g. `{ userId: string }`,
   * fits).
   */
  handler(
    request: Request,
    context: { params: Promise<Record<string, string>> },
  ): Response | Promise<Response>;
  /**
   * A key-checking route's handler before its scope was given (what withApiKey made): kept so that another
   * route can serve the same handler under another path (src/server/customer-route.ts).
   */
  scopedHandler?: ScopedHandler;
};

/**
 * The default of maxBodyBytes: the app's JSON bodies are a few hundred bytes; anything near this limit is
 * not a real request.
 */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

/** A route's handler. */
export type RouteHandler = RouteDefinition["handler"];

/**
 * A handler that checks an API key and so needs its route's scope (what withApiKey and withApiMutation
 * make, src/server/with-api-key.ts): defineRoute gives it the route's `scope`. It cannot be called before:
 * a route that checks keys cannot be served without naming the scope it needs.
 */
export type ScopedHandler = {
  readonly forScope: (scope: ApiScope, options?: ScopedHandlerOptions) => RouteHandler;
};

/**
 * How a key-checking handler reads its path parameters. `resolveParams` turns the path's parameters into
 * the ones the handler was written for, after the key and its scope were checked and before anything else
 * (src/server/customer-route.ts: `{externalId}` becomes the customer's `{userId}`), so one handler serves
 * a user's path and a customer's path alike.
 */
export type ScopedHandlerOptions = {
  resolveParams?: (db: Database, params: Record<string, string>) => Promise<Record<string, string>>;
};

/** What a route file declares: a RouteDefinition whose handler may still need the route's scope. */
export type RouteDeclaration = Omit<RouteDefinition, "handler"> & { handler: RouteHandler | ScopedHandler };

function isScopedHandler(handler: RouteHandler | ScopedHandler): handler is ScopedHandler {
  return typeof (handler as Partial<ScopedHandler>).forScope === "function";
}

/**
 * Declares a route (src/routes/index.ts lists every route declared). A handler that checks API keys gets
 * the route's `scope` here. Throws when the route loads if a key-checking route names no scope, or a route
 * names a scope its handler never checks: either would be a route whose access is not what it says.
 */
export function defineRoute(route: RouteDeclaration): RouteDefinition {
  const { handler } = route;
  if (isScopedHandler(handler)) {
    if (!route.scope) throw new Error(`${route.path}: a route that checks API keys must name its scope`);
    return { ...route, handler: handler.forScope(route.scope), scopedHandler: handler };
  }
  if (route.scope) throw new Error(`${route.path}: names a scope, but its handler does not check API keys`);
  return { ...route, handler };
}

/** The methods a route answers. */
export function routeMethods(route: RouteDefinition): RouteMethod[] {
  return typeof route.method === "string" ? [route.method] : [...route.method];
}

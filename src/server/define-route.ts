import type { z } from "zod";

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
};

/**
 * The default of maxBodyBytes: the app's JSON bodies are a few hundred bytes; anything near this limit is
 * not a real request.
 */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

/** Declares a route (the identity, typed: src/routes/index.ts lists every route declared). */
export function defineRoute(route: RouteDefinition): RouteDefinition {
  return route;
}

/** The methods a route answers. */
export function routeMethods(route: RouteDefinition): RouteMethod[] {
  return typeof route.method === "string" ? [route.method] : [...route.method];
}

import { getSessionFromHeaders, type SessionUser } from "@/auth/session";
import { errorResponse, jsonError } from "./http-errors";

type RouteContext<Params> = { params: Promise<Params> };

/**
 * Wraps a route handler: the session is checked here, in the handler itself (never only in the proxy),
 * and every thrown failure becomes one JSON error shape.
 */
export function withUser<Params = Record<string, never>>(
  handler: (request: Request, user: SessionUser, params: Params) => Promise<Response>,
) {
  return async (request: Request, context: RouteContext<Params>): Promise<Response> => {
    let user: SessionUser | undefined;
    try {
      const session = await getSessionFromHeaders(request.headers);
      if (!session) return jsonError(401, "unauthorized", "Sign in to continue.");
      user = session.user;
      return await handler(request, user, await context.params);
    } catch (error) {
      return errorResponse(error, { userId: user?.id, path: new URL(request.url).pathname });
    }
  };
}

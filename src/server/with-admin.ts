import type { SessionUser } from "@/auth/session";
import { jsonError } from "./http-errors";
import { withUser } from "./with-user";

/**
 * Wraps an operator's route handler: a session is required (401 otherwise), and its user must be an admin
 * by the one admin rule (src/auth/admin-role.ts, evaluated on this request). Anyone else gets 404, as the
 * admin console answers them (src/auth/require-admin.ts): the console's routes are not advertised.
 */
export function withAdmin<Params = Record<string, never>>(
  handler: (request: Request, admin: SessionUser, params: Params) => Promise<Response>,
) {
  return withUser<Params>(async (request, user, params) => {
    if (user.role !== "admin") return jsonError(404, "not_found", "Not found.");
    return handler(request, user, params);
  });
}

import { headers } from "next/headers";
import { createSafeActionClient } from "next-safe-action";
import { getSessionFromHeaders } from "@/auth/session";
import { CreditsError } from "@/credits/errors";
import { logger } from "@/lib/logger";
import { classifyError } from "@/server/http-errors";

export type ActionServerError = { code: string; message: string; retryable: boolean };

class UnauthorizedError extends CreditsError<"unauthorized"> {
  constructor() {
    super("unauthorized", "Sign in to continue.");
  }
}

/** Server actions fail with the same codes and messages as the JSON API. */
export const actionClient = createSafeActionClient({
  handleServerError(error): ActionServerError {
    const classified = classifyError(error);
    if (classified.status >= 500) logger.error({ err: error, code: classified.code }, "server action failed");
    return { code: classified.code, message: classified.message, retryable: classified.retryable };
  },
});

/** Every protected action checks the session itself. */
export const authActionClient = actionClient.use(async ({ next }) => {
  const session = await getSessionFromHeaders(await headers());
  if (!session) throw new UnauthorizedError();
  return next({ ctx: { user: session.user } });
});

class ForbiddenError extends CreditsError<"forbidden"> {
  constructor() {
    super("forbidden", "Only administrators can do this.");
  }
}

/** Admin actions: the role is checked on every call, never only by the page that shows the button. */
export const adminActionClient = authActionClient.use(async ({ next, ctx }) => {
  if (ctx.user.role !== "admin") throw new ForbiddenError();
  return next({ ctx: { actor: { userId: ctx.user.id, label: ctx.user.email } } });
});

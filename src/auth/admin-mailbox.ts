import { and, eq, like, sql } from "drizzle-orm";
import { adminEmails } from "@/config/env";
import { session, user, verification } from "@/db/schema";
import type { Database } from "@/db/types";
import { emailLocale } from "@/email/locale";
import { logger } from "@/lib/logger";
import { awaitsAdminPassword } from "./admin-role";

/** Asks Better Auth to email a set-password link (its request-password-reset endpoint, called in-process). */
export type RequestPasswordLink = (input: { email: string; redirectTo: string }) => Promise<unknown>;

/**
 * Runs when an address is verified. For an ADMIN_EMAILS address whose password was chosen at sign-up
 * (src/auth/admin-role.ts explains why that password proves nothing): signs out every session the account
 * has so far, and emails a link to set the password. The role follows once the password is set from that
 * link; setting it signs out every session again, so only whoever reads the mailbox is left.
 *
 * The session Better Auth creates for the person who opened the verification link is made after this
 * runs (autoSignInAfterVerification), so they stay signed in and see the credits page explain the step.
 * Never throws: a failure is logged, and the owner can ask for the link from the credits page or from
 * "Forgot your password?".
 */
export async function requireMailboxPasswordForAdmin(
  db: Database,
  requestPasswordLink: RequestPasswordLink,
  verified: { id: string; email: string },
  request?: Request,
): Promise<void> {
  try {
    const [account] = await db
      .select({
        email: user.email,
        emailVerified: user.emailVerified,
        role: user.role,
        passwordSetByEmailAt: user.passwordSetByEmailAt,
      })
      .from(user)
      .where(eq(user.id, verified.id));
    if (!account || !awaitsAdminPassword(account, adminEmails())) return;
    await db.delete(session).where(eq(session.userId, verified.id));
    let callbackURL: string | null = null;
    try {
      callbackURL = request ? new URL(request.url).searchParams.get("callbackURL") : null;
    } catch {
      // No locale hint; English.
    }
    const locale = emailLocale(callbackURL, request?.headers.get("referer"));
    await requestPasswordLink({ email: account.email, redirectTo: `/${locale}/reset-password` });
    logger.info(
      { userId: verified.id },
      "ADMIN_EMAILS address verified with a password chosen at sign-up: sessions signed out, set-password link sent",
    );
  } catch (error) {
    logger.error(
      { err: error, userId: verified.id },
      "could not send the set-password link of an admin address",
    );
  }
}

/**
 * Records that the account's password was just set through a link emailed to its address (Better Auth's
 * onPasswordReset, after it saved the password, consumed the link's token and signed every session out),
 * and voids every other set-password link of the account still waiting to be used. Better Auth consumes
 * only the token that was used; an older link (asked for earlier by the owner, or by a stranger typing the
 * address into "Forgot your password?", and perhaps forwarded or left in a shared inbox) would otherwise
 * set the password again, and with it the admin role, until it expires an hour later. Judged by the
 * database's clock, like every other time the app stores.
 */
export async function recordPasswordSetByEmail(db: Database, userId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(user)
      .set({ passwordSetByEmailAt: sql`now()`, updatedAt: sql`now()` })
      .where(eq(user.id, userId));
    // Better Auth keeps each link as a verification row `reset-password:<token>` whose value is the user id.
    await tx
      .delete(verification)
      .where(and(like(verification.identifier, "reset-password:%"), eq(verification.value, userId)));
  });
  logger.info({ userId }, "password set from an emailed link; the account's other set-password links voided");
}

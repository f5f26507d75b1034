import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { nextCookies } from "better-auth/next-js";
import { getServerEnv, publicUrl } from "@/config/env";
import { getAuthSecret } from "@/config/local-secrets";
import { grantSignupGift } from "@/credits/grant-signup-gift";
import * as schema from "@/db/schema";
import type { Database } from "@/db/types";
import { sendAuthLink } from "@/email/send-auth-link";
import { CLIENT_ADDRESS_HEADER } from "@/lib/client-address";
import { logger } from "@/lib/logger";
import { grantFreePlanCredits } from "@/payment/subscriptions/grant-free-plan-credits";
import { recordPasswordSetByEmail, requireMailboxPasswordForAdmin } from "./admin-mailbox";

function trustedOrigins(): string[] {
  const env = getServerEnv();
  const origins = new Set([new URL(publicUrl()).origin]);
  if (!env.BETTER_AUTH_URL) {
    // Unconfigured local use: the app is as likely to be opened on 127.0.0.1 as on localhost.
    origins.add(`http://localhost:${env.PORT}`);
    origins.add(`http://127.0.0.1:${env.PORT}`);
  }
  return [...origins];
}

/** The signup gift, granted once the address is verified; never fails the verification itself. */
async function giftOnVerifiedEmail(db: Database, user: { id: string; email: string }): Promise<void> {
  const env = getServerEnv();
  try {
    const result = await grantSignupGift(db, {
      userId: user.id,
      email: user.email,
      amount: env.SIGNUP_GIFT_CREDITS,
      ...(env.SIGNUP_GIFT_EXPIRE_DAYS > 0 ? { expireDays: env.SIGNUP_GIFT_EXPIRE_DAYS } : {}),
    });
    if (result.granted) logger.info({ userId: user.id, entryId: result.entryId }, "signup gift granted");
  } catch (error) {
    logger.error(
      { err: error, userId: user.id },
      "signup gift failed; it is retried on the next verification update",
    );
  }
}

/**
 * The Free plan's credits of the current period, granted as soon as the address is verified (the
 * `subscription-credits` job would grant them within a minute; the same use case, so once either way).
 * Never fails the verification: the job tries again.
 */
async function freeCreditsOnVerifiedEmail(db: Database, user: { id: string }): Promise<void> {
  try {
    await grantFreePlanCredits(db, { userId: user.id });
  } catch (error) {
    logger.error({ err: error, userId: user.id }, "Free plan credits failed; the job tries again");
  }
}

/**
 * Better Auth on the app's database. `kind` picks where its limiter counts: in the database on PostgreSQL
 * (every app instance shares the counts), in memory on the embedded database (one process by definition).
 */
export function createAuth(db: Database, kind: "pglite" | "postgres" = "pglite") {
  const auth = betterAuth({
    database: drizzleAdapter(db, { provider: "pg", schema }),
    secret: getAuthSecret(),
    baseURL: publicUrl(),
    trustedOrigins: trustedOrigins(),
    emailAndPassword: {
      enabled: true,
      minPasswordLength: 8,
      maxPasswordLength: 128,
      // "Forgot your password?", and the step that gives an ADMIN_EMAILS address its role
      // (src/auth/admin-role.ts): a password set from a link emailed to the address.
      sendResetPassword: ({ user, url }, request) => sendAuthLink("set-password", { user, url, request }),
      // Whoever had a session before (a stranger who signed up first with the address) is signed out.
      revokeSessionsOnPasswordReset: true,
      onPasswordReset: async ({ user }) => {
        await recordPasswordSetByEmail(db, user.id);
      },
    },
    emailVerification: {
      sendOnSignUp: true,
      autoSignInAfterVerification: true,
      // Emailed through SMTP when configured, otherwise written to the server log (src/email).
      sendVerificationEmail: ({ user, url }, request) => sendAuthLink("verify-email", { user, url, request }),
      afterEmailVerification: async (user, request) => {
        await giftOnVerifiedEmail(db, user);
        await freeCreditsOnVerifiedEmail(db, user);
        await requireMailboxPasswordForAdmin(
          db,
          ({ email, redirectTo }) => auth.api.requestPasswordReset({ body: { email, redirectTo } }),
          user,
          request,
        );
      },
    },
    telemetry: { enabled: false },
    // Limits per client address. Sign-up and sign-in are the brute-force targets; the rest is generous.
    // The client address comes from one header the app fills in itself (src/lib/client-address.ts):
    // Better Auth's default, X-Forwarded-For, is whatever the client chose to send.
    advanced: { ipAddress: { ipAddressHeaders: [CLIENT_ADDRESS_HEADER] } },
    rateLimit: {
      enabled: process.env.NODE_ENV === "production",
      storage: kind === "postgres" ? "database" : "memory",
      window: 60,
      max: 200,
      customRules: {
        "/sign-in/email": { window: 60, max: getServerEnv().RATE_LIMIT_AUTH_PER_MINUTE },
        "/sign-up/email": { window: 60, max: getServerEnv().RATE_LIMIT_AUTH_PER_MINUTE },
      },
    },
    user: {
      additionalFields: {
        // A role granted by hand (`npm run credits -- admin grant`); ADMIN_EMAILS is never copied here but
        // read on every request (src/auth/admin-role.ts). No request may set it: input false.
        role: { type: "string", required: false, defaultValue: "user", input: false },
        // Set only by onPasswordReset above (src/auth/admin-mailbox.ts); no request may set it.
        passwordSetByEmailAt: { type: "date", required: false, input: false },
      },
    },
    // No admin plugin: its endpoints under /api/auth/admin/* (set-role, create-user, impersonate-user,
    // ban-user, …) would be a second admin surface with a rule of its own (the stored role, verified or
    // not). The console uses the app's own server actions, which apply src/auth/admin-role.ts.
    plugins: [nextCookies()],
    databaseHooks: {
      user: {
        // Also covers an address verified some other way (an admin, a provider that vouches for it).
        update: {
          after: async (user) => {
            if (user.emailVerified) {
              await giftOnVerifiedEmail(db, user);
              await freeCreditsOnVerifiedEmail(db, user);
            }
          },
        },
      },
    },
  });
  return auth;
}

export type Auth = ReturnType<typeof createAuth>;

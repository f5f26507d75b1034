import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { nextCookies } from "better-auth/next-js";
import { admin } from "better-auth/plugins";
import { adminEmails, getServerEnv } from "@/config/env";
import { getAuthSecret } from "@/config/local-secrets";
import * as schema from "@/db/schema";
import type { Database } from "@/db/types";

export function authBaseUrl(): string {
  const env = getServerEnv();
  return env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`;
}

function trustedOrigins(): string[] {
  const env = getServerEnv();
  const origins = new Set([new URL(authBaseUrl()).origin]);
  if (!env.BETTER_AUTH_URL) {
    // Unconfigured local use: the app is as likely to be opened on 127.0.0.1 as on localhost.
    origins.add(`http://localhost:${env.PORT}`);
    origins.add(`http://127.0.0.1:${env.PORT}`);
  }
  return [...origins];
}

export function createAuth(db: Database) {
  return betterAuth({
    database: drizzleAdapter(db, { provider: "pg", schema }),
    secret: getAuthSecret(),
    baseURL: authBaseUrl(),
    trustedOrigins: trustedOrigins(),
    emailAndPassword: { enabled: true, minPasswordLength: 8, maxPasswordLength: 128 },
    telemetry: { enabled: false },
    plugins: [admin(), nextCookies()],
    databaseHooks: {
      user: {
        create: {
          // Admins are bootstrapped from ADMIN_EMAILS: the first operator needs no database access to get in.
          before: async (user) => ({
            data: { ...user, role: adminEmails().has(user.email.toLowerCase()) ? "admin" : "user" },
          }),
        },
      },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;

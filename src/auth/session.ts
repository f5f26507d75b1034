import { getConnection } from "@/db/client";
import { processSlot } from "@/lib/process-registry";
import { awaitsAdminPassword, effectiveRole } from "./admin-role";
import { type Auth, createAuth } from "./auth";

// One per process (src/lib/process-registry.ts), on the one database connection.
const holder = processSlot<{ auth?: Promise<Auth> }>("auth", () => ({}));

export function getAuth(): Promise<Auth> {
  holder.auth ??= getConnection().then((connection) => createAuth(connection.db, connection.kind));
  return holder.auth;
}

/** Lets tests rebuild auth on a test database. */
export function resetAuth(): void {
  holder.auth = undefined;
}

export type SessionUser = {
  id: string;
  email: string;
  name: string;
  /** The effective role (src/auth/admin-role.ts): "admin" only for a verified address. */
  role: "admin" | "user";
  emailVerified: boolean;
  /** An ADMIN_EMAILS address that gets the role once its password is set from an emailed link. */
  awaitsAdminPassword: boolean;
};

/**
 * The signed-in user for these request headers, or null. Every protected route and action calls this
 * itself. The session is read from the database on every call (no cookie cache), so the role reflects
 * the account's current verification state and stored role, and ADMIN_EMAILS as this process read it.
 */
export async function getSessionFromHeaders(headers: Headers): Promise<{ user: SessionUser } | null> {
  const auth = await getAuth();
  const session = await auth.api.getSession({ headers });
  if (!session) return null;
  const { id, email, name, emailVerified } = session.user;
  const account = {
    email,
    emailVerified,
    role: session.user.role,
    passwordSetByEmailAt: session.user.passwordSetByEmailAt,
  };
  return {
    user: {
      id,
      email,
      name,
      role: effectiveRole(account),
      emailVerified,
      awaitsAdminPassword: awaitsAdminPassword(account),
    },
  };
}

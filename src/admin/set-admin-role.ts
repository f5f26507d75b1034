import { eq, sql } from "drizzle-orm";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { isAdmin } from "@/auth/admin-role";
import { adminEmails } from "@/config/env";
import { NotFoundError } from "@/credits/errors";
import { user } from "@/db/schema";
import type { Database } from "@/db/types";

export type SetAdminRoleResult = {
  userId: string;
  email: string;
  /** The stored role after the change ("admin" or "user"). */
  storedRole: "admin" | "user";
  /** False when the stored role already was what was asked for: nothing was written, no audit entry. */
  changed: boolean;
  /** Whether the account is an admin now under the whole rule (verified address; list or stored role). */
  effective: boolean;
  emailVerified: boolean;
  /**
   * Whether the account's password was set through a link emailed to its address. Without it, whoever
   * chose the password at sign-up may not be the owner of the address: a stored grant still counts (the
   * operator's own decision), and the CLI says so.
   */
  passwordSetByEmail: boolean;
  /** The address is in ADMIN_EMAILS as this process reads it: revoking the stored role does not remove that. */
  inAdminEmails: boolean;
};

/**
 * Grants or revokes the admin role stored on an account, for operators who manage roles by hand, and
 * records it in the audit log (same transaction). The role still needs a verified address to count
 * (src/auth/admin-role.ts), and ADMIN_EMAILS keeps granting the role to the addresses it lists whatever
 * is stored here.
 *
 * The email is matched case-insensitively, as sign-up stores it lower-cased.
 * @throws NotFoundError when no account has this email.
 */
export async function setAdminRole(
  db: Database,
  input: { email: string; admin: boolean },
  actor: Actor,
  emails: Set<string> = adminEmails(),
): Promise<SetAdminRoleResult> {
  const email = input.email.trim().toLowerCase();
  const storedRole = input.admin ? "admin" : "user";
  return db.transaction(async (tx) => {
    const [account] = await tx
      .select({
        id: user.id,
        email: user.email,
        role: user.role,
        emailVerified: user.emailVerified,
        passwordSetByEmailAt: user.passwordSetByEmailAt,
      })
      .from(user)
      .where(eq(sql`lower(${user.email})`, email))
      .for("update");
    if (!account) throw new NotFoundError(`An account with the email ${email}`, { email });
    const changed = account.role !== storedRole;
    if (changed) {
      await tx.update(user).set({ role: storedRole, updatedAt: new Date() }).where(eq(user.id, account.id));
      await recordAudit(tx, actor, input.admin ? "admin.grant" : "admin.revoke", account.id, {
        email: account.email,
        previousRole: account.role,
      });
    }
    return {
      userId: account.id,
      email: account.email,
      storedRole,
      changed,
      effective: isAdmin({ ...account, role: storedRole }, emails),
      emailVerified: account.emailVerified,
      passwordSetByEmail: account.passwordSetByEmailAt != null,
      inAdminEmails: emails.has(email),
    };
  });
}

import { adminEmails } from "@/config/env";

/** What the admin rule needs to know about an account: the columns of Better Auth's user row. */
export type AdminCandidate = {
  email: string;
  emailVerified: boolean;
  role?: string | null;
  /** When the password was last set through a link emailed to the address (user.password_set_by_email_at). */
  passwordSetByEmailAt?: Date | null;
};

/**
 * The one admin rule, evaluated on every request from the account's current row and the current
 * ADMIN_EMAILS:
 *
 * - The address must be verified. ADMIN_EMAILS names addresses, and anyone can sign up with any address;
 *   only a verified one shows that its owner is the person the operator meant.
 * - Then either the address is in ADMIN_EMAILS (read live, never copied into the row, so removing an
 *   address from the list takes the role away) and the account's password was set through a link emailed
 *   to that address (a password reset: `passwordSetByEmailAt`), or an operator granted the role by hand
 *   (`npm run credits -- admin grant --email …`, stored as `role = 'admin'`).
 *
 * Why the emailed link: a stranger can sign up first with the operator's address and a password of their
 * own; the verification email goes to the real owner, who opens it, and the account is then verified but
 * its password is the stranger's. From the server's side that sign-up looks exactly like the owner's own,
 * so a password chosen at sign-up proves nothing about the mailbox. A password set through a link sent to
 * the address does, and setting it signs every other session out (src/auth/auth.ts). When such an
 * address is verified, the app emails that link by itself (src/auth/admin-mailbox.ts).
 */
export function isAdmin(account: AdminCandidate, emails: Set<string> = adminEmails()): boolean {
  if (!account.emailVerified) return false;
  if (account.role === "admin") return true;
  return emails.has(account.email.trim().toLowerCase()) && account.passwordSetByEmailAt != null;
}

/**
 * An ADMIN_EMAILS account that is verified but whose password was not set through an emailed link yet: it
 * becomes admin once its owner sets the password from the link (the credits page says so).
 */
export function awaitsAdminPassword(account: AdminCandidate, emails: Set<string> = adminEmails()): boolean {
  return (
    account.emailVerified &&
    account.passwordSetByEmailAt == null &&
    account.role !== "admin" &&
    emails.has(account.email.trim().toLowerCase())
  );
}

/** The role to show and check: "admin" when {@link isAdmin} holds, otherwise "user". */
export function effectiveRole(account: AdminCandidate): "admin" | "user" {
  return isAdmin(account) ? "admin" : "user";
}

import { adminEmails } from "@/config/env";

/** What the admin rule needs to know about an account: the columns of Better Auth's user row. */
export type AdminCandidate = { email: string; emailVerified: boolean; role?: string | null };

/**
 * The one admin rule, evaluated on every request from the account's current row and the current
 * ADMIN_EMAILS:
 *
 * - The address must be verified. ADMIN_EMAILS names addresses, and anyone can sign up with any address;
 *   only a verified one shows that its owner is the person the operator meant.
 * - Then either the address is in ADMIN_EMAILS (read live, never copied into the row, so removing an
 *   address from the list takes the role away), or an operator granted the role by hand
 *   (`npm run credits -- admin grant --email …`, stored as `role = 'admin'`).
 */
export function isAdmin(account: AdminCandidate, emails: Set<string> = adminEmails()): boolean {
  if (!account.emailVerified) return false;
  return emails.has(account.email.trim().toLowerCase()) || account.role === "admin";
}

/** The role to show and check: "admin" when {@link isAdmin} holds, otherwise "user". */
export function effectiveRole(account: AdminCandidate): "admin" | "user" {
  return isAdmin(account) ? "admin" : "user";
}

import { and, desc, eq, ilike, isNotNull, lt, or } from "drizzle-orm";
import { effectiveRole } from "@/auth/admin-role";
import { isStorableText } from "@/credits/schemas";
import { creditAccount, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export type AdminUserRow = {
  id: string;
  email: string;
  name: string;
  role: string;
  emailVerified: boolean;
  balance: number;
  held: number;
  debt: number;
  createdAt: string;
  /**
   * A customer's external id (an account another backend made by PUT /api/v1/customers/{externalId});
   * null for a signed-up user. A customer has no sign-in: `email` and `name` are what that backend sent
   * (empty when it sent none), `role` is always `user` and `emailVerified` false.
   */
  externalId: string | null;
};

/** The user columns the admin console reads (the role as stored; effectiveRole applies it). */
export const adminUserColumns = {
  id: user.id,
  email: user.email,
  name: user.name,
  role: user.role,
  emailVerified: user.emailVerified,
  passwordSetByEmailAt: user.passwordSetByEmailAt,
  createdAt: user.createdAt,
};

/**
 * Accounts newest first, with their balances: signed-up users and customers by external id, one list
 * (merged by creation time, so the `before` cursor pages through both). `query` matches a user's email or
 * name, and a customer's external id, email or name.
 */
export async function listUsers(
  db: DatabaseOrTransaction,
  input: { query?: string; limit?: number; before?: string } = {},
): Promise<{ users: AdminUserRow[]; nextBefore: string | null }> {
  const limit = Math.min(Math.max(input.limit ?? 25, 1), 100);
  // Text PostgreSQL cannot store (a `?q=%00`) can match no name or email: asking would fail with 22021.
  if (input.query && !isStorableText(input.query)) return { users: [], nextBefore: null };
  // A cursor outside the years PostgreSQL and JavaScript share would fail with 22008; it is ignored.
  const before = input.before ? new Date(input.before) : undefined;
  const beforeUsable = before && before.getUTCFullYear() >= 1 && before.getUTCFullYear() <= 9999;
  const pattern = input.query?.trim() ? `%${input.query.trim().replace(/[%_\\]/g, "\\$&")}%` : undefined;
  const rows = await db
    .select({
      ...adminUserColumns,
      balance: creditAccount.balance,
      held: creditAccount.held,
      debt: creditAccount.debt,
    })
    .from(user)
    .leftJoin(creditAccount, eq(creditAccount.userId, user.id))
    .where(
      and(
        pattern ? or(ilike(user.email, pattern), ilike(user.name, pattern)) : undefined,
        before && beforeUsable ? lt(user.createdAt, before) : undefined,
      ),
    )
    .orderBy(desc(user.createdAt))
    .limit(limit + 1);
  const customers = await db
    .select({
      id: creditAccount.userId,
      externalId: creditAccount.externalId,
      email: creditAccount.email,
      name: creditAccount.name,
      balance: creditAccount.balance,
      held: creditAccount.held,
      debt: creditAccount.debt,
      createdAt: creditAccount.createdAt,
    })
    .from(creditAccount)
    .where(
      and(
        isNotNull(creditAccount.externalId),
        pattern
          ? or(
              ilike(creditAccount.externalId, pattern),
              ilike(creditAccount.email, pattern),
              ilike(creditAccount.name, pattern),
            )
          : undefined,
        before && beforeUsable ? lt(creditAccount.createdAt, before) : undefined,
      ),
    )
    .orderBy(desc(creditAccount.createdAt))
    .limit(limit + 1);
  const merged: AdminUserRow[] = [
    ...rows.map((row) => ({
      id: row.id,
      email: row.email,
      name: row.name,
      // The role as the app applies it (verified address; ADMIN_EMAILS with a password set from an emailed
      // link, or a stored grant), not the column.
      role: effectiveRole(row),
      emailVerified: row.emailVerified,
      balance: row.balance ?? 0,
      held: row.held ?? 0,
      debt: row.debt ?? 0,
      createdAt: row.createdAt.toISOString(),
      externalId: null,
    })),
    ...customers.map((row) => ({
      id: row.id,
      email: row.email ?? "",
      name: row.name ?? "",
      role: "user",
      emailVerified: false,
      balance: row.balance,
      held: row.held,
      debt: row.debt,
      createdAt: row.createdAt.toISOString(),
      externalId: row.externalId,
    })),
  ].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const page = merged.slice(0, limit);
  return {
    users: page,
    nextBefore: merged.length > limit ? (page.at(-1)?.createdAt ?? null) : null,
  };
}

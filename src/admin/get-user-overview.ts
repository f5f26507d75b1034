import { and, desc, eq } from "drizzle-orm";
import { effectiveRole } from "@/auth/admin-role";
import { NotFoundError } from "@/credits/errors";
import { getBalance } from "@/credits/get-balance";
import { listTransactions } from "@/credits/list-transactions";
import { isStorableText } from "@/credits/schemas";
import { auditLog, creditLot, creditPurchase, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { amountsCreditedByProration } from "@/payment/subscriptions/proration-credits";
import { getUserSubscriptions } from "./get-user-subscriptions";
import { purchaseView } from "./list-purchases";
import { adminUserColumns } from "./list-users";

/** Everything an operator needs to answer "what happened to this customer's credits?". */
export async function getUserOverview(db: DatabaseOrTransaction, userId: string) {
  // A path segment such as `%00` names no user; asking the database would fail with 22021.
  if (!isStorableText(userId)) throw new NotFoundError("User");
  const [account] = await db.select(adminUserColumns).from(user).where(eq(user.id, userId));
  if (!account) throw new NotFoundError("User", { userId });
  const [balance, history, lots, purchases, audit, subscriptions] = await Promise.all([
    getBalance(db, userId),
    listTransactions(db, { userId, limit: 50 }),
    db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, userId), eq(creditLot.spendable, true)))
      .orderBy(creditLot.expiresAt, creditLot.createdAt)
      .limit(100),
    db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.userId, userId))
      .orderBy(desc(creditPurchase.createdAt))
      .limit(50),
    db
      .select()
      .from(auditLog)
      .where(eq(auditLog.targetUserId, userId))
      .orderBy(desc(auditLog.createdAt))
      .limit(50),
    getUserSubscriptions(db, userId),
  ]);
  const credited = await amountsCreditedByProration(
    db,
    purchases.map((purchase) => purchase.invoiceId),
  );
  return {
    // The role as the app applies it (verified address; ADMIN_EMAILS with a password set from an emailed
    // link, or a stored grant), not the column.
    user: {
      id: account.id,
      email: account.email,
      name: account.name,
      emailVerified: account.emailVerified,
      role: effectiveRole(account),
      createdAt: account.createdAt.toISOString(),
    },
    balance,
    history: history.items,
    lots: lots.map((lot) => ({
      id: lot.id,
      credits: lot.credits,
      remaining: lot.remaining,
      source: lot.source,
      category: lot.category,
      expiresAt: lot.expiresAt?.toISOString() ?? null,
      createdAt: lot.createdAt.toISOString(),
    })),
    purchases: purchases.map((purchase) => purchaseView(purchase, credited)),
    subscriptions,
    audit: audit.map((row) => ({
      id: row.id,
      actor: row.actorLabel,
      action: row.action,
      details: row.details,
      createdAt: row.createdAt.toISOString(),
    })),
  };
}

export type UserOverview = Awaited<ReturnType<typeof getUserOverview>>;

import { and, desc, eq, isNotNull } from "drizzle-orm";
import { effectiveRole } from "@/auth/admin-role";
import { NotFoundError } from "@/credits/errors";
import { getBalance } from "@/credits/get-balance";
import { listTransactions } from "@/credits/list-transactions";
import { isStorableText } from "@/credits/schemas";
import { auditLog, creditAccount, creditLot, creditPurchase, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { amountsCreditedByProration } from "@/payment/subscriptions/proration-credits";
import { getUserSubscriptions } from "./get-user-subscriptions";
import { purchaseView } from "./list-purchases";
import { adminUserColumns } from "./list-users";

/** The account's owner as the page shows it: a signed-up user, or a customer by external id. */
async function findOwner(db: DatabaseOrTransaction, userId: string) {
  const [account] = await db.select(adminUserColumns).from(user).where(eq(user.id, userId));
  if (account) {
    return {
      id: account.id,
      email: account.email,
      name: account.name,
      emailVerified: account.emailVerified,
      // The role as the app applies it (verified address; ADMIN_EMAILS with a password set from an emailed
      // link, or a stored grant), not the column.
      role: effectiveRole(account),
      createdAt: account.createdAt.toISOString(),
      externalId: null as string | null,
      metadata: null as Record<string, unknown> | null,
    };
  }
  // A customer (PUT /api/v1/customers/{externalId}): no sign-in, so no role and no verified address.
  const [customer] = await db
    .select()
    .from(creditAccount)
    .where(and(eq(creditAccount.userId, userId), isNotNull(creditAccount.externalId)));
  if (!customer) return null;
  return {
    id: customer.userId,
    email: customer.email ?? "",
    name: customer.name ?? "",
    emailVerified: false,
    role: "user",
    createdAt: customer.createdAt.toISOString(),
    externalId: customer.externalId,
    metadata: customer.metadata ?? {},
  };
}

/**
 * Everything an operator needs to answer "what happened to this customer's credits?", for a signed-up
 * user or a customer by external id (`user.externalId` set; `user.metadata` is what its backend sent).
 */
export async function getUserOverview(db: DatabaseOrTransaction, userId: string) {
  // A path segment such as `%00` names no user; asking the database would fail with 22021.
  if (!isStorableText(userId)) throw new NotFoundError("User");
  const owner = await findOwner(db, userId);
  if (!owner) throw new NotFoundError("User", { userId });
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
    user: owner,
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

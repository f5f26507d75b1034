import { and, eq } from "drizzle-orm";
import { paymentCustomer } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import type { PaymentProvider } from "../types";

/** The user's customer at this provider, if one was made. */
export async function findPaymentCustomer(
  db: DatabaseOrTransaction,
  userId: string,
  provider: PaymentProvider["name"],
): Promise<string | undefined> {
  const [row] = await db
    .select({ customerId: paymentCustomer.customerId })
    .from(paymentCustomer)
    .where(and(eq(paymentCustomer.userId, userId), eq(paymentCustomer.provider, provider)));
  return row?.customerId;
}

/**
 * The user's one customer at the provider, made at the first subscription and reused after: a second
 * customer would split the user's card and invoices. The provider call comes first (outside any
 * transaction: it may be a network call) and is idempotent per user; of two concurrent first calls the
 * first row written wins and both answer it. Errors: the provider's (PaymentProviderUnavailableError,
 * SubscriptionsUnavailableError).
 */
export async function ensurePaymentCustomer(
  db: Database,
  provider: PaymentProvider,
  user: { id: string; email: string },
): Promise<string> {
  const known = await findPaymentCustomer(db, user.id, provider.name);
  if (known) return known;
  const customerId = await provider.ensureCustomer(user);
  await db
    .insert(paymentCustomer)
    .values({ userId: user.id, provider: provider.name, customerId })
    .onConflictDoNothing({ target: [paymentCustomer.userId, paymentCustomer.provider] });
  const stored = await findPaymentCustomer(db, user.id, provider.name);
  if (!stored) throw new Error("payment customer was not stored");
  return stored;
}

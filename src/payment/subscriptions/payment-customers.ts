import { and, eq } from "drizzle-orm";
import { paymentCustomer } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
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
 * PaymentProviderUnavailableError).
 */
export async function ensurePaymentCustomer(
  db: Database,
  provider: PaymentProvider,
  user: { id: string; email: string },
  replacing?: string,
): Promise<string> {
  const known = await findPaymentCustomer(db, user.id, provider.name);
  if (known) return known;
  const customerId = await provider.ensureCustomer(user, replacing);
  await db
    .insert(paymentCustomer)
    .values({ userId: user.id, provider: provider.name, customerId })
    .onConflictDoNothing({ target: [paymentCustomer.userId, paymentCustomer.provider] });
  const stored = await findPaymentCustomer(db, user.id, provider.name);
  if (!stored) throw new Error("payment customer was not stored");
  return stored;
}

/**
 * Replaces a stored customer the provider no longer has (PaymentCustomerMissingError: deleted in Stripe's
 * Dashboard, or an id of the other mode after the keys changed): the row is removed only while it still
 * names that customer (a concurrent replacement's new customer is kept), and the user's customer is made
 * again. Without this the user could never pay again: every purchase and subscribe names the stored
 * customer. Errors: the provider's (PaymentProviderUnavailableError).
 */
export async function replacePaymentCustomer(
  db: Database,
  provider: PaymentProvider,
  user: { id: string; email: string },
  missingCustomerId: string,
): Promise<string> {
  await forgetPaymentCustomer(db, user.id, provider.name, missingCustomerId);
  logger.warn(
    { userId: user.id, missingCustomerId },
    "the payment provider has no such customer: making a new one",
  );
  return ensurePaymentCustomer(db, provider, user, missingCustomerId);
}

/** Removes the user's stored customer while it is still `customerId` (see replacePaymentCustomer). */
export async function forgetPaymentCustomer(
  db: Database,
  userId: string,
  provider: PaymentProvider["name"],
  customerId: string,
): Promise<void> {
  await db
    .delete(paymentCustomer)
    .where(
      and(
        eq(paymentCustomer.userId, userId),
        eq(paymentCustomer.provider, provider),
        eq(paymentCustomer.customerId, customerId),
      ),
    );
}

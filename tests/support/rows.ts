import { and, eq } from "drizzle-orm";
import { getBalance } from "../../src/credits/get-balance";
import { creditEntry, creditPurchase, webhookEvent } from "../../src/db/schema";
import type { Database } from "../../src/db/types";

/** Direct reads of what a request left behind, for assertions. */
export async function purchaseRow(db: Database, purchaseId: string) {
  const [row] = await db.select().from(creditPurchase).where(eq(creditPurchase.id, purchaseId));
  if (!row) throw new Error(`purchase ${purchaseId} not found`);
  return row;
}

export async function purchasesOf(db: Database, userId: string) {
  return db.select().from(creditPurchase).where(eq(creditPurchase.userId, userId));
}

export async function entriesOf(db: Database, userId: string) {
  return db.select().from(creditEntry).where(eq(creditEntry.userId, userId)).orderBy(creditEntry.id);
}

export async function webhookEventRow(db: Database, eventId: string) {
  const [row] = await db.select().from(webhookEvent).where(eq(webhookEvent.id, eventId));
  return row;
}

/** The user's spendable balance in credits (at `at`, now by default). */
export async function balanceOf(db: Database, userId: string, at?: Date): Promise<number> {
  return (await getBalance(db, userId, at)).balance;
}

/** The purchase recorded for a subscription invoice, if any. */
export async function purchaseOfInvoice(db: Database, invoiceId: string) {
  return (await db.select().from(creditPurchase).where(eq(creditPurchase.invoiceId, invoiceId)))[0];
}

/** The user's subscription grant entries whose reference is `invoiceId`. */
export function grantsOfInvoice(db: Database, userId: string, invoiceId: string) {
  return db
    .select()
    .from(creditEntry)
    .where(
      and(
        eq(creditEntry.userId, userId),
        eq(creditEntry.type, "subscription"),
        eq(creditEntry.reference, invoiceId),
      ),
    );
}

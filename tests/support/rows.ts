import { eq } from "drizzle-orm";
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

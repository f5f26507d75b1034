import { eq } from "drizzle-orm";
import { type DisputeRecord, disputedAmount, isNewerDisputeFact } from "@/credits/purchase-clawback-rules";
import { creditDispute } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { type PurchaseRow, updatePurchase } from "./webhooks/purchase-lookup";

/** Inquiries (early fraud warnings answered before any chargeback) report only `warning_*` statuses. */
function isInquiryStatus(status: string): boolean {
  return status.startsWith("warning_");
}

/** The placeholder id migration 0009 gave the one dispute fact a purchase kept before disputes had ids. */
function legacyDisputeId(purchaseId: string): string {
  return `legacy:${purchaseId}`;
}

/**
 * Records one dispute's status at an event's `created` time, keyed by the dispute id, on a purchase whose
 * row lock the caller holds. The fact replaces the dispute's recorded one only when it is newer
 * (isNewerDisputeFact: by event time, then a total order at equal seconds), so any delivery order and
 * repetition of one dispute's events ends at the same fact. Then the purchase's `disputed` flag is
 * brought in line with all its disputes (any of them withdrawn). Returns the money disputes have
 * withdrawn now, in minor units.
 */
export async function recordDisputeFact(
  tx: DatabaseOrTransaction,
  purchase: PurchaseRow,
  dispute: { id: string; amount: number; status: string; eventType: string; at: Date },
): Promise<number> {
  const fact = { status: dispute.status, eventType: dispute.eventType, at: dispute.at };
  let [existing] = await tx.select().from(creditDispute).where(eq(creditDispute.disputeId, dispute.id));
  if (!existing) {
    // A purchase disputed before disputes were kept by id: its one fact belongs to this dispute, if it is
    // of the same kind. An inquiry's late event (a retry, an operator retrying a stored failure) must not
    // take over a chargeback's fact: the chargeback's own events would then start a second record, and
    // the fact carried over under the inquiry's id would keep the funds withdrawn after the chargeback
    // was won. Inquiries are the disputes whose statuses are `warning_*`.
    const [legacy] = await tx
      .select({ status: creditDispute.status })
      .from(creditDispute)
      .where(eq(creditDispute.disputeId, legacyDisputeId(purchase.id)));
    if (legacy && isInquiryStatus(legacy.status) === isInquiryStatus(dispute.status)) {
      const [adopted] = await tx
        .update(creditDispute)
        .set({ disputeId: dispute.id })
        .where(eq(creditDispute.disputeId, legacyDisputeId(purchase.id)))
        .returning();
      existing = adopted;
    }
  }
  if (!existing) {
    await tx.insert(creditDispute).values({
      disputeId: dispute.id,
      purchaseId: purchase.id,
      amount: dispute.amount,
      status: fact.status,
      eventType: fact.eventType,
      statusAt: fact.at,
    });
  } else if (
    isNewerDisputeFact(fact, {
      status: existing.status,
      eventType: existing.eventType,
      at: existing.statusAt,
    })
  ) {
    await tx
      .update(creditDispute)
      .set({
        amount: dispute.amount,
        status: fact.status,
        eventType: fact.eventType,
        statusAt: fact.at,
        updatedAt: new Date(),
      })
      .where(eq(creditDispute.disputeId, dispute.id));
  }
  const withdrawn = disputedAmount(await disputesOf(tx, purchase.id));
  const values = {
    disputed: withdrawn > 0,
    // The newest fact of any dispute, kept for the admin pages.
    ...(isNewerDisputeFact(
      fact,
      purchase.disputeStatus && purchase.disputeEventType && purchase.disputeEventAt
        ? {
            status: purchase.disputeStatus,
            eventType: purchase.disputeEventType,
            at: purchase.disputeEventAt,
          }
        : null,
    )
      ? { disputeStatus: fact.status, disputeEventType: fact.eventType, disputeEventAt: fact.at }
      : {}),
  };
  await updatePurchase(tx, purchase.id, values);
  return withdrawn;
}

/** Every dispute recorded for a purchase, each with its newest fact. */
export async function disputesOf(tx: DatabaseOrTransaction, purchaseId: string): Promise<DisputeRecord[]> {
  const rows = await tx
    .select({
      amount: creditDispute.amount,
      status: creditDispute.status,
      eventType: creditDispute.eventType,
      at: creditDispute.statusAt,
    })
    .from(creditDispute)
    .where(eq(creditDispute.purchaseId, purchaseId));
  return rows;
}

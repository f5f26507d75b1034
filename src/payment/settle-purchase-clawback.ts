import { eq } from "drizzle-orm";
import { addCredits } from "@/credits/add-credits";
import { clawBackCredits } from "@/credits/claw-back-credits";
import { internalKey } from "@/credits/idempotency-keys";
import { packageName } from "@/credits/packages";
import { clawbackTarget } from "@/credits/purchase-clawback-rules";
import { creditLot, creditPurchase } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { updatePurchase } from "./webhooks/purchase-lookup";

/**
 * Moves a purchase's clawed-back credits to where its refunds and disputes say they should be. Every
 * refund and dispute event records its facts on the purchase (refunded amount, funds withdrawn by a dispute
 * or not) and then calls this, as does the payment_intent.succeeded handler after granting. So events can
 * arrive in any order and any number of times and still converge: each call moves the purchase from what
 * was taken so far to the target, once, and records it. The caller holds the purchase's row lock.
 *
 * Each move is one step of the purchase's history and is keyed by its number (`clawbackSequence`, raised
 * in the same transaction): keys built from the amounts ("500 → 0") repeat when the same amounts come
 * round again (withdrawn, reinstated, then refunded) and would refuse the later step forever.
 */
export async function settlePurchaseClawback(tx: DatabaseOrTransaction, purchaseId: string): Promise<string> {
  const [purchase] = await tx
    .select()
    .from(creditPurchase)
    .where(eq(creditPurchase.id, purchaseId))
    .for("update");
  if (!purchase) return "unknown_purchase";
  // Nothing was granted yet: the grant, when it comes, settles the clawback right after.
  if (purchase.status !== "succeeded" || !purchase.paymentIntentId) return "awaiting_grant";

  const target = clawbackTarget(purchase);
  const taken = purchase.clawedBackCredits;
  if (target === taken) return "settled";
  const log = logger.child({ purchaseId, userId: purchase.userId });
  const step = purchase.clawbackSequence + 1;
  const name = packageName({ id: purchase.packageId });

  if (target > taken) {
    const lots = await tx
      .select({ id: creditLot.id })
      .from(creditLot)
      .where(eq(creditLot.purchaseId, purchase.id));
    const result = await clawBackCredits(tx, {
      userId: purchase.userId,
      amount: target - taken,
      type: purchase.disputed ? "dispute" : "refund",
      description: purchase.disputed ? `Payment disputed: ${name} package` : `Refund of ${name} package`,
      idempotencyKey: internalKey("clawback", purchase.id, step),
      preferLotIds: lots.map((lot) => lot.id),
      reference: purchase.paymentIntentId,
      metadata: { purchaseId: purchase.id, packageId: purchase.packageId },
    });
    log.info(
      { entryId: result.entryId, taken: result.taken, debtAdded: result.debtAdded },
      "credits clawed back",
    );
  } else {
    const result = await addCredits(tx, {
      userId: purchase.userId,
      amount: taken - target,
      type: "dispute_reversal",
      description: `Dispute won: ${name} package credits returned`,
      idempotencyKey: internalKey("reinstate", purchase.id, step),
      reference: purchase.paymentIntentId,
      purchaseId: purchase.id,
      metadata: { purchaseId: purchase.id, packageId: purchase.packageId },
    });
    log.info({ entryId: result.entryId, credits: taken - target }, "clawed-back credits reinstated");
  }
  await updatePurchase(tx, purchase.id, { clawedBackCredits: target, clawbackSequence: step });
  return target > taken ? "clawed_back" : "reinstated";
}

import { and, eq, isNotNull } from "drizzle-orm";
import { packageName } from "@/catalog/packages";
import { planName } from "@/catalog/plans";
import { addCredits } from "@/credits/add-credits";
import { clawBackCredits } from "@/credits/claw-back-credits";
import { internalKey } from "@/credits/idempotency-keys";
import { clawbackTarget, disputedAmount } from "@/credits/purchase-clawback-rules";
import { purchaseCreditLots } from "@/credits/purchase-credit-lots";
import { purchaseOutstandingDebt } from "@/credits/purchase-outstanding-debt";
import { creditLot, creditPurchase, subscriptionPeriodGrant, subscriptionRolloverShare } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { disputesOf } from "./record-dispute-facts";
import { updatePurchase } from "./webhooks/purchase-lookup";

/**
 * The words and metadata of a purchase's clawback entries: a package's name, or for a subscription
 * invoice its plan's (the credits page rebuilds them in the reader's language from `packageId` / `planId`).
 */
function clawbackWords(purchase: typeof creditPurchase.$inferSelect) {
  if (purchase.kind === "subscription_invoice") {
    const name = planName({ id: purchase.packageId });
    return {
      refunded: `Refund of ${name} plan invoice`,
      disputed: `Payment disputed: ${name} plan invoice`,
      reinstated: `Dispute won: ${name} plan credits returned`,
      metadata: { purchaseId: purchase.id, planId: purchase.packageId, invoiceId: purchase.invoiceId },
    };
  }
  const name = packageName({ id: purchase.packageId });
  return {
    refunded: `Refund of ${name} package`,
    disputed: `Payment disputed: ${name} package`,
    reinstated: `Dispute won: ${name} package credits returned`,
    metadata: { purchaseId: purchase.id, packageId: purchase.packageId },
  };
}

/**
 * Moves a purchase's clawed-back credits to where its refunds and disputes say they should be. Every
 * refund and dispute event records its facts (refunded amount on the purchase, each dispute's newest status
 * in credit_dispute) and then calls this, as does the payment_intent.succeeded handler after granting. So events can
 * arrive in any order and any number of times and still converge: each call moves the purchase from what
 * was taken so far to the target, once, and records it. The caller holds the purchase's row lock.
 *
 * Each move is one step of the purchase's history and is keyed by its number (`clawbackSequence`, raised
 * in the same transaction): keys built from the amounts ("500 → 0") repeat when the same amounts come
 * round again (withdrawn, reinstated, then refunded) and would refuse the later step forever.
 *
 * The target never counts credits of the purchase that expired unused (they left the account already), and
 * credits given back keep the purchase's expiry (src/credits/purchase-clawback-rules.ts); given back after
 * that expiry, they cancel at most the debt the purchase's own clawbacks left (purchaseOutstandingDebt).
 * Expiry is judged by the database's clock; `now` is for tests only.
 */
export async function settlePurchaseClawback(
  tx: DatabaseOrTransaction,
  purchaseId: string,
  now?: Date,
): Promise<string> {
  const [purchase] = await tx
    .select()
    .from(creditPurchase)
    .where(eq(creditPurchase.id, purchaseId))
    .for("update");
  if (!purchase) return "unknown_purchase";
  // Nothing was granted yet: the grant, when it comes, settles the clawback right after.
  if (purchase.status !== "succeeded" || !purchase.paymentIntentId) return "awaiting_grant";

  const lots = await purchaseCreditLots(tx, purchase, now);
  const amountDisputed = disputedAmount(await disputesOf(tx, purchase.id));
  const target = clawbackTarget({
    // A yearly invoice's credits arrive slot by slot: only those issued can be taken back.
    credits: purchase.creditsIssued ?? purchase.credits,
    amount: purchase.amount,
    amountRefunded: purchase.amountRefunded,
    amountDisputed,
    expiredUnused: lots.expiredUnused,
  });
  const taken = purchase.clawedBackCredits;
  if (target === taken) return "settled";
  const log = logger.child({ purchaseId, userId: purchase.userId });
  const step = purchase.clawbackSequence + 1;
  const words = clawbackWords(purchase);

  if (target > taken) {
    // The purchase's own lots, and the carries holding a share of its credits (roll-into-period.ts): a
    // refund after the carry takes its share back from the carry, not from the period's other invoice.
    const ownLots = [
      ...(await tx.select({ id: creditLot.id }).from(creditLot).where(eq(creditLot.purchaseId, purchase.id))),
      ...(await tx
        .select({ id: subscriptionRolloverShare.lotId })
        .from(subscriptionRolloverShare)
        .where(eq(subscriptionRolloverShare.purchaseId, purchase.id))),
    ];
    // Of those, the lots of months granted after they ended (paid late, or issued late by the job:
    // `lot_expires_at`) go before the others that expire with them, i.e. before the lot of the month in
    // force they live in. All are the same invoice's credits, so the amount taken is the same; but the
    // carry out of the month in force counts late credits as used first and never carries them
    // (roll-into-period.ts), so a refund taking them first leaves the month's own credits to carry as a
    // spend would. In lot id order (random uuids) the carry, and what the customer holds, was chance.
    const firstLots = await tx
      .select({ id: subscriptionPeriodGrant.lotId })
      .from(subscriptionPeriodGrant)
      .innerJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
      .where(and(eq(creditLot.purchaseId, purchase.id), isNotNull(subscriptionPeriodGrant.lotExpiresAt)));
    const disputed = amountDisputed > 0;
    const result = await clawBackCredits(
      tx,
      {
        userId: purchase.userId,
        amount: target - taken,
        type: disputed ? "dispute" : "refund",
        description: disputed ? words.disputed : words.refunded,
        idempotencyKey: internalKey("clawback", purchase.id, step),
        preferLotIds: ownLots.map((lot) => lot.id),
        firstLotIds: firstLots.flatMap((lot) => (lot.id ? [lot.id] : [])),
        reference: purchase.paymentIntentId,
        metadata: words.metadata,
      },
      now,
    );
    log.info(
      { entryId: result.entryId, taken: result.taken, debtAdded: result.debtAdded },
      "credits clawed back",
    );
  } else {
    // The same credits coming back: they expire when the purchase's would have (at once, if that time has
    // passed). Not yet expired, they repay any debt first like every grant (creditkit_add_credits). Already
    // expired, they are worth nothing: they may cancel only the debt this purchase's own clawbacks left
    // (its credits spent before the clawback, which the merchant now keeps paid for), never debt another
    // purchase's refund left, which would stand had this purchase never been disputed.
    const ownDebt = await purchaseOutstandingDebt(tx, {
      userId: purchase.userId,
      paymentIntentId: purchase.paymentIntentId,
    });
    const result = await addCredits(
      tx,
      {
        userId: purchase.userId,
        amount: taken - target,
        type: "dispute_reversal",
        description: words.reinstated,
        idempotencyKey: internalKey("reinstate", purchase.id, step),
        ...(lots.expiresAt ? { expiresAt: lots.expiresAt } : {}),
        reference: purchase.paymentIntentId,
        purchaseId: purchase.id,
        metadata: words.metadata,
      },
      now,
      { expiredRepayLimit: ownDebt },
    );
    log.info({ entryId: result.entryId, credits: taken - target }, "clawed-back credits reinstated");
  }
  await updatePurchase(tx, purchase.id, { clawedBackCredits: target, clawbackSequence: step });
  return target > taken ? "clawed_back" : "reinstated";
}

import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import { NotFoundError } from "@/credits/errors";
import { sandboxSubscription, subscription } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { CardDeclinedError } from "../subscriptions/subscription-errors";
import { InvalidCardError } from "./confirm-sandbox-payment";
import { deliverPendingEventsOfSubscription } from "./deliver-sandbox-events";
import { retrySandboxInvoice } from "./sandbox-invoice-payment";
import { cardToKeep } from "./test-cards";

export type SetCardResult = {
  card: { last4: string };
  /** The open invoice of a `past_due` subscription, charged again with the new card. */
  retried?: { invoiceId: string; status: "paid" | "open" };
};

/** Statuses whose card on file can be changed: the subscription has not ended. */
const CHANGEABLE = new Set(["incomplete", "trialing", "active", "past_due", "unpaid", "paused"]);

/**
 * PUT /api/sandbox/subscriptions/{id}/card: changes the card kept on one of the user's sandbox
 * subscriptions (`id` is OUR subscription id, as GET /api/credits/subscription answers it). The card is
 * attached as Stripe's test mode would (cardToKeep): 4242 succeeds later, 0341 attaches but every charge
 * fails, 3155 needs authentication; a card declined outright is refused (CardDeclinedError, 402) and an
 * invalid number too (InvalidCardError, 400), keeping the old card. Only behaviour and last 4 are stored.
 *
 * When the subscription is `past_due`, its open invoice is retried at once with the new card, as Stripe
 * does when a customer updates the payment method of a failed subscription, and its events are delivered
 * before the answer: a retry that succeeds has granted that period when this returns (once: only
 * `invoice.paid` grants, keyed by invoice and period).
 *
 * NotFoundError for someone else's subscription, an unknown id, one not in the sandbox (ids cannot be
 * probed) or one that has ended (it has no card to change; nothing is written).
 */
export async function setSandboxCard(
  db: Database,
  input: { subscriptionId: string; userId: string; cardNumber: string; webhookSecret: string },
): Promise<SetCardResult> {
  const ourId = z.uuid().safeParse(input.subscriptionId);
  const [ours] = ourId.success
    ? await db.select().from(subscription).where(eq(subscription.id, ourId.data))
    : [];
  if (!ours || ours.userId !== input.userId || ours.provider !== "sandbox")
    throw new NotFoundError("Subscription");

  const kept = cardToKeep(input.cardNumber);
  if (!kept.ok) {
    if (kept.outcome.kind === "invalid") throw new InvalidCardError(kept.outcome.message);
    throw new CardDeclinedError(kept.outcome.message, { declineCode: kept.outcome.declineCode });
  }

  const changed = await db.transaction(async (tx) => {
    // The card first, in its own short lock of the subscription; the retry below then takes the
    // PaymentIntent → invoice → subscription locks in confirm's order.
    const [updated] = await tx
      .update(sandboxSubscription)
      .set({ cardBehavior: kept.card.behavior, cardLast4: kept.card.last4, updatedAt: sql`now()` })
      .where(eq(sandboxSubscription.subscriptionRowId, ours.id))
      .returning();
    if (!updated || !CHANGEABLE.has(updated.status)) throw new NotFoundError("Subscription");
    return { providerSubscriptionId: updated.id, status: updated.status };
  });

  let retried: SetCardResult["retried"];
  if (changed.status === "past_due") {
    retried =
      (await db.transaction((tx) => retrySandboxInvoice(tx, changed.providerSubscriptionId))) ?? undefined;
    await deliverPendingEventsOfSubscription(db, input.webhookSecret, changed.providerSubscriptionId);
  }
  logger.info(
    { subscriptionId: ours.id, userId: ours.userId, last4: kept.card.last4, retried },
    "sandbox: card on file changed",
  );
  return { card: { last4: kept.card.last4 }, ...(retried ? { retried } : {}) };
}

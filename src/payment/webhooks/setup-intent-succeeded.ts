import type Stripe from "stripe";
import { cardOfSetupIntent, recordSavedCard } from "@/auto-top-up/save-card";
import { logger } from "@/lib/logger";
import type { WebhookHandler } from "./types";

/**
 * `setup_intent.succeeded`: a card saved for auto top-up. The event's payment method is only an id, so the
 * SetupIntent is read back from the provider (with its card's brand and last four digits), checked to be
 * this server's for the user it names, on that user's customer (cardOfSetupIntent), and recorded
 * (recordSavedCard: an older SetupIntent never replaces a newer card). The page reports the same
 * SetupIntent too (POST /api/credits/auto-top-up/card); whichever comes first records it.
 */
export const handleSetupIntentSucceeded: WebhookHandler = async (tx, event, context) => {
  const object = event.data.object as Stripe.SetupIntent;
  const userId = typeof object.metadata?.userId === "string" ? object.metadata.userId : null;
  if (!userId) return "ignored_not_ours";
  const provider = context?.provider?.();
  if (!provider) throw new Error("setup_intent.succeeded needs the payment provider to read the SetupIntent");
  const intent = await provider.retrieveSetupIntent(object.id);
  const checked = await cardOfSetupIntent(tx, provider.name, userId, intent);
  if (!checked.ok || !intent) {
    logger.warn(
      { eventId: event.id, setupIntentId: object.id, userId },
      "setup_intent.succeeded not recorded",
    );
    return "ignored_not_users_card";
  }
  const saved = await recordSavedCard(tx, {
    userId,
    setupIntentId: intent.id,
    setUpAt: intent.created,
    card: checked.card,
  });
  return saved ? "card_saved" : "card_already_saved";
};

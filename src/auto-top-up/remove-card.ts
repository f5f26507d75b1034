import { sql } from "drizzle-orm";
import { lockAccount } from "@/credits/lock-account";
import type { Database } from "@/db/types";
import { getAutoTopUp } from "./get-auto-top-up";
import { cancelUnchargedAttempt, syncAccountThreshold } from "./save-auto-top-up";
import type { AutoTopUpView } from "./schemas";

/**
 * DELETE /api/credits/auto-top-up/card: forgets the saved card and so turns auto top-up off (it could not
 * charge anything), cancelling a top-up not charged yet. The card stays on the customer at the provider
 * (Stripe keeps payment methods until detached); the app never charges it again. The SetupIntent's id
 * stays recorded, so a late report of that same SetupIntent cannot bring the card back. Answers the view.
 */
export async function removeSavedCard(db: Database, userId: string): Promise<AutoTopUpView> {
  return db.transaction(async (tx) => {
    await lockAccount(tx, userId);
    await tx.execute(sql`
      UPDATE auto_top_up SET enabled = false, payment_method_id = NULL, card_brand = NULL,
        card_last4 = NULL, updated_at = now()
      WHERE user_id = ${userId}`);
    await syncAccountThreshold(tx, userId);
    await cancelUnchargedAttempt(tx, userId, "card_removed");
    return getAutoTopUp(tx, userId);
  });
}

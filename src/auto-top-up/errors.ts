import { CreditsError } from "@/credits/errors";

/** Enabling auto top-up needs a card saved through a SetupIntent first (409 card_required). */
export class CardRequiredError extends CreditsError<"card_required"> {
  constructor() {
    super("card_required", "Save a card before turning auto top-up on.");
  }
}

/**
 * The SetupIntent named is not one that saved a card for this user: not confirmed yet, declined, another
 * user's or another customer's (409 setup_incomplete; nothing saved).
 */
export class SetupIncompleteError extends CreditsError<"setup_incomplete"> {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super("setup_incomplete", message, { context });
  }
}

/**
 * Stripe's test-mode card outcomes, reproduced offline by the sandbox. `requires_action` is a charge that
 * waits for the cardholder to authenticate (3D Secure): nothing is paid until they do.
 */
export type CardOutcome =
  | { kind: "succeeded" }
  | { kind: "declined"; declineCode: "generic_decline" | "insufficient_funds"; message: string }
  | { kind: "requires_action"; message: string }
  | { kind: "invalid"; message: string };

export const SANDBOX_TEST_CARDS = {
  succeeds: "4242424242424242",
  declined: "4000000000000002",
  insufficientFunds: "4000000000009995",
  /** Attaching it to a customer succeeds; every charge of it is declined (Stripe: 4000 0000 0000 0341). */
  chargeFails: "4000000000000341",
  /** Needs authentication (Stripe: 4000 0025 0000 3155). */
  requiresAction: "4000002500003155",
  /** Needs authentication on every payment, off-session ones too, however it was set up (Stripe: 4000 0027 6000 3184). */
  alwaysAuthenticates: "4000002760003184",
} as const;

/**
 * How a card kept on a subscription behaves when it is charged off-session, as stored in
 * `sandbox_subscription.card_behavior` (never the number).
 */
export type KeptCardBehavior = "succeeds" | "charge_fails" | "requires_action";

/** The card a subscription keeps for renewals, as far as the sandbox keeps it: its behaviour and last four digits. */
export type KeptCard = { behavior: KeptCardBehavior; last4: string };

const CHARGE_FAILS_MESSAGE = "Your card was declined.";
const REQUIRES_ACTION_MESSAGE = "This payment needs the cardholder to authenticate it.";

function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

const digitsOf = (cardNumber: string) => cardNumber.replace(/[\s-]/g, "");

/** The outcome of charging the card now, with the customer present (confirming a PaymentIntent). */
export function cardOutcome(cardNumber: string): CardOutcome {
  const digits = digitsOf(cardNumber);
  if (!/^\d{12,19}$/.test(digits) || !passesLuhn(digits)) {
    return { kind: "invalid", message: "Your card number is incorrect." };
  }
  if (digits === SANDBOX_TEST_CARDS.succeeds) return { kind: "succeeded" };
  if (digits === SANDBOX_TEST_CARDS.insufficientFunds) {
    return {
      kind: "declined",
      declineCode: "insufficient_funds",
      message: "Your card has insufficient funds.",
    };
  }
  if (digits === SANDBOX_TEST_CARDS.declined || digits === SANDBOX_TEST_CARDS.chargeFails) {
    return { kind: "declined", declineCode: "generic_decline", message: CHARGE_FAILS_MESSAGE };
  }
  // The sandbox has no authentication step to pass, so a card that asks for one never completes a charge.
  if (digits === SANDBOX_TEST_CARDS.requiresAction || digits === SANDBOX_TEST_CARDS.alwaysAuthenticates)
    return { kind: "requires_action", message: REQUIRES_ACTION_MESSAGE };
  // Like Stripe's test mode, a real-looking card that is not a test card is declined.
  return {
    kind: "declined",
    declineCode: "generic_decline",
    message: "Your card was declined. This is test mode: use a test card such as 4242 4242 4242 4242.",
  };
}

/**
 * Attaching a card to a customer for later charges (the card on file of a subscription), as Stripe's test
 * mode does it: 4242 keeps a card that succeeds; 0341 attaches (its charges fail later); 3155 attaches (its
 * off-session charges need the customer, and the sandbox never holds an authenticated setup of it);
 * cards declined outright (0002, 9995, unknown numbers) are refused at once, as Stripe refuses to attach
 * them, and an invalid number is refused as invalid. Returns the behaviour and last four digits to keep.
 */
export function cardToKeep(
  cardNumber: string,
): { ok: true; card: KeptCard } | { ok: false; outcome: CardOutcome & { kind: "declined" | "invalid" } } {
  const digits = digitsOf(cardNumber);
  const outcome = cardOutcome(cardNumber);
  if (outcome.kind === "invalid") return { ok: false, outcome };
  const last4 = digits.slice(-4);
  if (outcome.kind === "succeeded") return { ok: true, card: { behavior: "succeeds", last4 } };
  if (outcome.kind === "requires_action") return { ok: true, card: { behavior: "requires_action", last4 } };
  if (digits === SANDBOX_TEST_CARDS.chargeFails)
    return { ok: true, card: { behavior: "charge_fails", last4 } };
  return { ok: false, outcome };
}

/** The outcome of charging a kept card off-session (a renewal, or a retry of an open invoice). */
export function chargeKeptCard(
  behavior: string | null,
): CardOutcome & { kind: "succeeded" | "declined" | "requires_action" } {
  if (behavior === "succeeds") return { kind: "succeeded" };
  if (behavior === "requires_action") return { kind: "requires_action", message: REQUIRES_ACTION_MESSAGE };
  // charge_fails, or no card at all: Stripe declines an invoice it has nothing to charge.
  return { kind: "declined", declineCode: "generic_decline", message: CHARGE_FAILS_MESSAGE };
}

/**
 * Saving a card through a SetupIntent (`usage: off_session`) for auto top-up, as Stripe's test mode treats
 * each card (https://docs.stripe.com/testing#authentication-and-setup): 4242 is saved and its off-session
 * charges succeed; 3155 asks for authentication at setup (the sandbox's card form stands for the
 * cardholder passing it) and its off-session charges then succeed, the point of setting a card up; 3184
 * asks for authentication on every payment, so its off-session charges wait for the cardholder; 0341 is
 * saved and every charge of it is declined. Cards declined outright (0002, 9995, unknown numbers) are
 * refused, as Stripe refuses to set them up; an invalid number is refused as invalid.
 */
export function cardToSetUp(
  cardNumber: string,
): { ok: true; card: KeptCard } | { ok: false; outcome: CardOutcome & { kind: "declined" | "invalid" } } {
  const digits = digitsOf(cardNumber);
  if (digits === SANDBOX_TEST_CARDS.requiresAction)
    return { ok: true, card: { behavior: "succeeds", last4: digits.slice(-4) } };
  return cardToKeep(cardNumber);
}

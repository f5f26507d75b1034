/** Stripe's test-mode card outcomes, reproduced offline by the sandbox. */
export type CardOutcome =
  | { kind: "succeeded" }
  | { kind: "declined"; declineCode: "generic_decline" | "insufficient_funds"; message: string }
  | { kind: "invalid"; message: string };

export const SANDBOX_TEST_CARDS = {
  succeeds: "4242424242424242",
  declined: "4000000000000002",
  insufficientFunds: "4000000000009995",
} as const;

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

export function cardOutcome(cardNumber: string): CardOutcome {
  const digits = cardNumber.replace(/[\s-]/g, "");
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
  if (digits === SANDBOX_TEST_CARDS.declined) {
    return { kind: "declined", declineCode: "generic_decline", message: "Your card was declined." };
  }
  // Like Stripe's test mode, a real-looking card that is not a test card is declined.
  return {
    kind: "declined",
    declineCode: "generic_decline",
    message: "Your card was declined. This is test mode: use a test card such as 4242 4242 4242 4242.",
  };
}

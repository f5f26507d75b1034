import { createHash } from "node:crypto";
import { signupGiftClaim } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { addCredits } from "./add-credits";
import { internalKey } from "./idempotency-keys";

/** Case and surrounding spaces do not make a new address. */
export function emailFingerprint(email: string): string {
  return createHash("sha256").update(email.trim().toLowerCase()).digest("hex");
}

export type SignupGiftResult =
  | { granted: true; entryId: number; balance: number }
  | { granted: false; reason: "already_claimed" | "disabled" };

/**
 * The welcome gift, once per email address ever: the claim is keyed by the address's fingerprint and
 * outlives the account, so deleting and re-creating an account does not earn a second gift. The claim and
 * the grant commit together.
 */
export async function grantSignupGift(
  db: DatabaseOrTransaction,
  input: { userId: string; email: string; amount: number; expireDays?: number },
): Promise<SignupGiftResult> {
  if (input.amount <= 0) return { granted: false, reason: "disabled" };
  return db.transaction(async (tx) => {
    const claimed = await tx
      .insert(signupGiftClaim)
      .values({ emailHash: emailFingerprint(input.email), userId: input.userId })
      .onConflictDoNothing()
      .returning({ emailHash: signupGiftClaim.emailHash });
    if (claimed.length === 0) return { granted: false, reason: "already_claimed" };
    const grant = await addCredits(tx, {
      userId: input.userId,
      amount: input.amount,
      type: "signup_gift",
      description: "Welcome gift",
      idempotencyKey: internalKey("signup-gift"),
      ...(input.expireDays ? { expireDays: input.expireDays } : {}),
    });
    return { granted: true, entryId: grant.entryId, balance: grant.balance };
  });
}

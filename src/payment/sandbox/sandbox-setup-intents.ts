import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { NotFoundError } from "@/credits/errors";
import { sandboxPaymentIntent, sandboxSetupIntent } from "@/db/schema";
import type { Database } from "@/db/types";
import {
  type CreatedPaymentIntent,
  type OffSessionCharge,
  type OffSessionChargeRequest,
  offSessionOutcome,
  PaymentMethodMissingError,
  type SetupIntentState,
} from "../types";
import { InvalidCardError } from "./confirm-sandbox-payment";
import { deliverPendingEventsOf } from "./deliver-sandbox-events";
import { enqueueSandboxEvent, sandboxId, toStripePaymentIntent } from "./sandbox-events";
import { runSandboxIdempotent } from "./sandbox-idempotency";
import { cardToSetUp, chargeKeptCard } from "./test-cards";

type SetupRow = typeof sandboxSetupIntent.$inferSelect;

function toState(row: SetupRow): SetupIntentState {
  return {
    id: row.id,
    status: row.status,
    customerId: row.customerId,
    userId: row.userId,
    created: row.createdAt,
    paymentMethod:
      row.status === "succeeded" && row.paymentMethodId && row.cardLast4
        ? // Every card the sandbox saves is one of Stripe's Visa test numbers (cardToSetUp).
          { id: row.paymentMethodId, brand: "visa", last4: row.cardLast4 }
        : null,
  };
}

/** A sandbox SetupIntent waiting for a card (`requires_payment_method`), as Stripe creates one. */
export async function createSandboxSetupIntent(
  db: Database,
  request: { customerId: string; userId: string; idempotencyKey: string },
): Promise<CreatedPaymentIntent> {
  return runSandboxIdempotent(
    db,
    {
      idempotencyKey: request.idempotencyKey,
      operation: "POST /v1/setup_intents",
      params: { customer: request.customerId, usage: "off_session", metadata: { userId: request.userId } },
    },
    async (tx) => {
      const id = sandboxId("seti");
      await tx.insert(sandboxSetupIntent).values({
        id,
        clientSecret: `${id}_secret_${randomBytes(12).toString("hex")}`,
        userId: request.userId,
        customerId: request.customerId,
        status: "requires_payment_method",
        idempotencyKey: request.idempotencyKey,
      });
      const [row] = await tx.select().from(sandboxSetupIntent).where(eq(sandboxSetupIntent.id, id));
      if (!row) throw new Error("sandbox SetupIntent was not stored");
      return { id: row.id, clientSecret: row.clientSecret };
    },
  );
}

export async function retrieveSandboxSetupIntent(
  db: Database,
  setupIntentId: string,
): Promise<SetupIntentState | undefined> {
  const [row] = await db.select().from(sandboxSetupIntent).where(eq(sandboxSetupIntent.id, setupIntentId));
  return row ? toState(row) : undefined;
}

export type SandboxSetupResult =
  | { status: "succeeded"; setupIntentId: string }
  | {
      status: "requires_payment_method";
      setupIntentId: string;
      error: { code: "card_declined"; declineCode: string; message: string };
    };

/**
 * Confirms a sandbox SetupIntent with a test card (cardToSetUp: Stripe's test-mode outcomes for saving a
 * card): a card that can be saved makes a payment method (`pm_sbx_…`) with its off-session behaviour and
 * last four digits, and the SetupIntent `succeeded`; a declined card leaves it waiting for another card.
 * Only the SetupIntent's user may confirm it (another's is answered as missing, so ids cannot be probed).
 * Confirming one that already succeeded answers `succeeded` again and changes nothing.
 * Errors: NotFoundError, InvalidCardError (400 invalid_card).
 */
export async function confirmSandboxSetupIntent(
  db: Database,
  input: { setupIntentId: string; userId: string; cardNumber: string },
): Promise<SandboxSetupResult> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(sandboxSetupIntent)
      .where(eq(sandboxSetupIntent.id, input.setupIntentId))
      .for("update");
    if (!row || row.userId !== input.userId) throw new NotFoundError("SetupIntent");
    if (row.status === "succeeded") return { status: "succeeded", setupIntentId: row.id };
    const setUp = cardToSetUp(input.cardNumber);
    if (!setUp.ok && setUp.outcome.kind === "invalid") throw new InvalidCardError(setUp.outcome.message);
    if (!setUp.ok) {
      const declineCode = setUp.outcome.kind === "declined" ? setUp.outcome.declineCode : "generic_decline";
      const error = { code: "card_declined" as const, declineCode, message: setUp.outcome.message };
      await tx
        .update(sandboxSetupIntent)
        .set({
          lastError: { code: "card_declined", decline_code: declineCode, message: error.message },
          updatedAt: sql`now()`,
        })
        .where(eq(sandboxSetupIntent.id, row.id));
      return { status: "requires_payment_method", setupIntentId: row.id, error };
    }
    await tx
      .update(sandboxSetupIntent)
      .set({
        status: "succeeded",
        paymentMethodId: sandboxId("pm"),
        cardBehavior: setUp.card.behavior,
        cardLast4: setUp.card.last4,
        lastError: null,
        updatedAt: sql`now()`,
      })
      .where(eq(sandboxSetupIntent.id, row.id));
    return { status: "succeeded", setupIntentId: row.id };
  });
}

/**
 * Charges a saved sandbox card off-session, as Stripe's `POST /v1/payment_intents` with
 * `off_session: true, confirm: true` does in test mode: the card's behaviour decides (chargeKeptCard):
 * `succeeded`; a decline leaves the PaymentIntent `requires_payment_method` with `card_declined`; a card that
 * needs authentication leaves it `requires_payment_method` with `authentication_required` (the customer
 * completes it on-session). The PaymentIntent and its event (`payment_intent.succeeded` or
 * `payment_intent.payment_failed`) are written in one transaction under the idempotency key, then the
 * event is delivered through the webhook's handlers before this answers. A payment method that is not the
 * customer's is refused as missing.
 */
export async function chargeSandboxOffSession(
  db: Database,
  webhookSecret: string,
  request: OffSessionChargeRequest,
): Promise<OffSessionCharge> {
  const charged = await runSandboxIdempotent(
    db,
    {
      idempotencyKey: request.idempotencyKey,
      operation: "POST /v1/payment_intents",
      params: {
        amount: request.amount,
        currency: request.currency,
        description: request.description,
        metadata: request.metadata,
        customer: request.customerId,
        payment_method: request.paymentMethodId,
        off_session: true,
        confirm: true,
      },
    },
    async (tx) => {
      const [card] = await tx
        .select()
        .from(sandboxSetupIntent)
        .where(eq(sandboxSetupIntent.paymentMethodId, request.paymentMethodId));
      // Like Stripe's resource_missing for a detached payment method: a definite answer, nothing charged.
      if (!card || card.customerId !== request.customerId)
        throw new PaymentMethodMissingError(request.paymentMethodId);
      const outcome = chargeKeptCard(card.cardBehavior);
      const lastError =
        outcome.kind === "declined"
          ? { code: "card_declined", decline_code: outcome.declineCode, message: outcome.message }
          : outcome.kind === "requires_action"
            ? {
                code: "authentication_required",
                decline_code: "authentication_required",
                message: outcome.message,
              }
            : null;
      const id = sandboxId("pi");
      const [intent] = await tx
        .insert(sandboxPaymentIntent)
        .values({
          id,
          clientSecret: `${id}_secret_${randomBytes(12).toString("hex")}`,
          amount: request.amount,
          currency: request.currency,
          status: outcome.kind === "succeeded" ? "succeeded" : "requires_payment_method",
          metadata: request.metadata,
          idempotencyKey: request.idempotencyKey,
          lastError,
        })
        .returning();
      if (!intent) throw new Error("sandbox PaymentIntent was not stored");
      const stripeShaped = toStripePaymentIntent(intent);
      await enqueueSandboxEvent(
        tx,
        outcome.kind === "succeeded" ? "payment_intent.succeeded" : "payment_intent.payment_failed",
        stripeShaped,
        intent.id,
      );
      return { ...offSessionOutcome({ ...stripeShaped, client_secret: intent.clientSecret }) };
    },
  );
  await deliverPendingEventsOf(db, webhookSecret, charged.paymentIntentId);
  return charged;
}

import { eq } from "drizzle-orm";
import { addCredits } from "@/credits/add-credits";
import { creditPurchase } from "@/db/schema";
import type { Database } from "@/db/types";
import { createCreditPurchase } from "@/payment/create-credit-purchase";
import type { PaymentProvider } from "@/payment/types";
import { createApiKey } from "@/service-api/api-keys";
import { apiLedgerKey } from "@/service-api/api-ledger-key";
import { seedUser } from "../../support/seed";
import { testId } from "../../support/stripe-events";
import type { PendingPurchase } from "./api";

const OPERATOR = { userId: null, label: "fault tests" };

/** An API key as an operator creates it; the id is what the ledger's idempotency keys carry. */
export async function seedApiKey(db: Database, name: string): Promise<{ key: string; apiKeyId: string }> {
  const created = await createApiKey(db, name, OPERATOR);
  return { key: created.key, apiKeyId: created.apiKey.id };
}

/** Users with `credits` each (never expiring), granted through the core like any other grant. */
export async function seedUsersWithCredits(db: Database, count: number, credits: number): Promise<string[]> {
  const users: string[] = [];
  for (let i = 0; i < count; i++) {
    const userId = await seedUser(db);
    if (credits > 0) {
      await addCredits(db, {
        userId,
        amount: credits,
        type: "grant",
        description: "fault-test seed",
        idempotencyKey: "fault-test-seed",
      });
    }
    users.push(userId);
  }
  return users;
}

/** The ledger key a service-API spend is recorded under (src/service-api/api-ledger-key.ts). */
export function ledgerKeyOf(apiKeyId: string, idempotencyKey: string): string {
  return apiLedgerKey(apiKeyId, idempotencyKey).value;
}

/**
 * Stands in for Stripe when a purchase is started: the PaymentIntent id it returns is what the webhook
 * later names. Nothing else of the provider is used by these tests.
 */
const offlineStripe: PaymentProvider = {
  name: "stripe",
  createPaymentIntent: async () => {
    const id = testId("pi");
    return { id, clientSecret: `${id}_secret_faults` };
  },
  createSetupIntent: async () => {
    throw new Error("the fault tests never save a card");
  },
  retrieveSetupIntent: async () => undefined,
  chargeOffSession: async () => {
    throw new Error("the fault tests never top up");
  },
  async *listSucceededPaymentIntents() {
    yield* [];
  },
  retrievePaymentIntent: async () => undefined,
  cancelPaymentIntent: async () => {
    throw new Error("the fault tests never cancel");
  },
  refundPayment: async () => {
    throw new Error("the fault tests never refund");
  },
  ensureCustomer: async () => {
    throw new Error("the fault tests never subscribe");
  },
  startSubscription: async () => {
    throw new Error("the fault tests never subscribe");
  },
  setCancelAtPeriodEnd: async () => {
    throw new Error("the fault tests never subscribe");
  },
  expireCheckout: async () => {
    throw new Error("the fault tests never subscribe");
  },
  createBillingPortalSession: async () => {
    throw new Error("the fault tests never subscribe");
  },
  retrieveInvoicePaymentIntent: async () => {
    throw new Error("the fault tests never subscribe");
  },
  retrieveInvoiceOfPayment: async () => undefined,
  changeSubscriptionPlan: async () => {
    throw new Error("the fault tests never subscribe");
  },
  expireIncompleteSubscription: async () => {
    throw new Error("the fault tests never subscribe");
  },
  retrieveSubscription: async () => undefined,
  retrieveInvoice: async () => undefined,
};

/** A purchase started the way the app starts one, waiting for its payment_intent.succeeded. */
export async function seedPendingPurchase(
  db: Database,
  userId: string,
  packageId = "basic",
): Promise<PendingPurchase> {
  const created = await createCreditPurchase(db, offlineStripe, { userId, packageId });
  const [row] = await db.select().from(creditPurchase).where(eq(creditPurchase.id, created.purchaseId));
  if (!row) throw new Error("the purchase was not written");
  return {
    purchaseId: row.id,
    userId,
    packageId: row.packageId,
    paymentIntentId: created.paymentIntentId,
    amount: row.amount,
    currency: row.currency,
    credits: row.credits,
  };
}

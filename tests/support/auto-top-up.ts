import { and, eq } from "drizzle-orm";
import { expect } from "vitest";
import type { AutoTopUpView } from "../../src/auto-top-up/schemas";
import { type CreditPackage, findPackageOnSale } from "../../src/catalog/packages";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { autoTopUpAttempt, creditEntry, creditPurchase } from "../../src/db/schema";
import type { Database } from "../../src/db/types";
import createSetupIntentRoute from "../../src/routes/credits/create-auto-top-up-setup-intent";
import getAutoTopUpRoute from "../../src/routes/credits/get-auto-top-up";
import saveCardRoute from "../../src/routes/credits/save-auto-top-up-card";
import setAutoTopUpRoute from "../../src/routes/credits/set-auto-top-up";
import confirmSetupIntentRoute from "../../src/routes/sandbox/confirm-setup-intent";
import { appRequest, readJson, type SignedUpUser } from "./app-requests";
import { handlerOf } from "./route-handlers";

// Auto top-up driven through its routes as the credits page drives them (the sandbox's card form for the
// SetupIntent), shared by the feature's tests and the attacks on it.

const getRoute = handlerOf(getAutoTopUpRoute);
const putRoute = handlerOf(setAutoTopUpRoute);
const setupRoute = handlerOf(createSetupIntentRoute);
const cardRoute = handlerOf(saveCardRoute);
const confirmSetupRoute = handlerOf(confirmSetupIntentRoute);

/** The catalog's `basic` package, the one the auto top-up tests choose. */
export function basicPackage(): CreditPackage {
  const basic = findPackageOnSale("basic");
  if (!basic) throw new Error("the catalog has no basic package");
  return basic;
}

/** GET /api/credits/auto-top-up as the user; expects 200. */
export async function getAutoTopUpView(user: SignedUpUser): Promise<AutoTopUpView> {
  const answer = await readJson<AutoTopUpView>(
    await getRoute(appRequest("/api/credits/auto-top-up", { cookie: user.cookie })),
  );
  expect(answer.status).toBe(200);
  return answer.body;
}

/** PUT /api/credits/auto-top-up with `body`, as the user (or signed out with `null`); the answer as it is. */
export async function putAutoTopUp(user: SignedUpUser | null, body: unknown) {
  return readJson<AutoTopUpView & { error?: { code: string; message: string } }>(
    await putRoute(
      appRequest("/api/credits/auto-top-up", {
        ...(user ? { cookie: user.cookie } : {}),
        method: "PUT",
        json: body,
      }),
    ),
  );
}

/** POST /api/credits/auto-top-up/setup-intent; expects 201. */
export async function startCardSetup(user: SignedUpUser) {
  const answer = await readJson<{
    setupIntentId: string;
    clientSecret: string;
    provider: string;
    publishableKey: string | null;
  }>(
    await setupRoute(
      appRequest("/api/credits/auto-top-up/setup-intent", { cookie: user.cookie, method: "POST" }),
    ),
  );
  expect(answer.status).toBe(201);
  return answer.body;
}

/** The sandbox's card form: POST /api/sandbox/setup-intents/{id}/confirm {cardNumber}. */
export async function confirmCardSetup(user: SignedUpUser, setupIntentId: string, cardNumber: string) {
  return readJson<{ status: string; error?: { code: string } }>(
    await confirmSetupRoute(
      appRequest(`/api/sandbox/setup-intents/${setupIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber },
      }),
    ),
  );
}

/** POST /api/credits/auto-top-up/card {setupIntentId}: the page reporting a confirmed SetupIntent. */
export async function reportSavedCard(user: SignedUpUser, setupIntentId: string) {
  return readJson<AutoTopUpView & { error?: { code: string } }>(
    await cardRoute(
      appRequest("/api/credits/auto-top-up/card", { cookie: user.cookie, json: { setupIntentId } }),
    ),
  );
}

/** Saves a test card the way the page does (SetupIntent, card form, report); returns the SetupIntent's id. */
export async function saveTestCard(user: SignedUpUser, cardNumber: string): Promise<string> {
  const { setupIntentId } = await startCardSetup(user);
  expect((await confirmCardSetup(user, setupIntentId, cardNumber)).status).toBe(200);
  const saved = await reportSavedCard(user, setupIntentId);
  expect(saved.status).toBe(200);
  return setupIntentId;
}

/** Grants `amount` credits under `key`. */
export function grantCredits(db: Database, userId: string, amount: number, key: string) {
  return addCredits(db, { userId, amount, type: "grant", description: "grant", idempotencyKey: key });
}

/** Spends `amount` credits under `key`, in a transaction as a feature does. */
export function spendCredits(db: Database, userId: string, amount: number, key: string) {
  return db.transaction((tx) =>
    consumeCredits(tx, { userId, amount, description: "spend", idempotencyKey: key }),
  );
}

/** The user's auto top-up attempts, oldest first. */
export function autoTopUpAttemptsOf(db: Database, userId: string) {
  return db
    .select()
    .from(autoTopUpAttempt)
    .where(eq(autoTopUpAttempt.userId, userId))
    .orderBy(autoTopUpAttempt.createdAt);
}

/** The user's purchases (an auto top-up's included). */
export function purchasesOf(db: Database, userId: string) {
  return db.select().from(creditPurchase).where(eq(creditPurchase.userId, userId));
}

/** The user's purchase grants (ledger entries of type `purchase`): one per paid purchase. */
export function purchaseGrantsOf(db: Database, userId: string) {
  return db
    .select()
    .from(creditEntry)
    .where(and(eq(creditEntry.userId, userId), eq(creditEntry.type, "purchase")));
}

/**
 * Grants and spends (keys `g-<key>`, `s-<key>`) so that the available balance crosses a threshold of 100
 * downwards once: up to 200, then 150 spent, leaving 50.
 */
export async function crossThreshold(db: Database, userId: string, key: string) {
  const { balance } = await getBalance(db, userId);
  await grantCredits(db, userId, 200 - balance, `g-${key}`);
  await spendCredits(db, userId, 150, `s-${key}`);
}

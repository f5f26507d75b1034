import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { useDatabaseConnection } from "../../src/db/client";
import { creditPurchase, sandboxPaymentIntent } from "../../src/db/schema";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  balanceGet,
  confirmPost,
  packagesGet,
  purchaseGet,
  purchasesPost,
  transactionsGet,
} from "../support/route-handlers";
import { entriesOf, purchaseRow, purchasesOf } from "../support/rows";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Sandbox mode (no Stripe keys): purchases are paid offline with Stripe's test cards.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const CARDS = {
  succeeds: "4242 4242 4242 4242",
  declined: "4000 0000 0000 0002",
  insufficientFunds: "4000 0000 0000 9995",
} as const;

type ErrorBody = { error: { code: string; message: string } };
type Created = { purchaseId: string; paymentIntentId: string; clientSecret: string; provider: string };
type TransactionsBody = {
  items: { id: string; type: string; amount: number; balanceAfter: number; description: string }[];
  nextCursor: string | null;
};

const noParams = routeContext({});

function getBalance(cookie?: string) {
  return balanceGet(appRequest("/api/credits/balance", { cookie }), noParams).then(
    readJson<{ balance: number }>,
  );
}

async function balance(user: SignedUpUser): Promise<number> {
  const { status, body } = await getBalance(user.cookie);
  expect(status).toBe(200);
  return body.balance;
}

async function transactions(user: SignedUpUser) {
  const { status, body } = await readJson<TransactionsBody>(
    await transactionsGet(appRequest("/api/credits/transactions", { cookie: user.cookie }), noParams),
  );
  expect(status).toBe(200);
  return body.items;
}

async function buy(
  user: SignedUpUser | undefined,
  init: { json?: unknown; body?: string; contentType?: string },
) {
  return readJson<Created & ErrorBody>(
    await purchasesPost(
      appRequest("/api/credits/purchases", { cookie: user?.cookie, method: "POST", ...init }),
      noParams,
    ),
  );
}

async function confirm(user: SignedUpUser | undefined, paymentIntentId: string, cardNumber: string) {
  return readJson<{
    status: string;
    paymentIntentId?: string;
    error?: { code: string; declineCode?: string; message?: string };
  }>(
    await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: user?.cookie,
        json: { cardNumber },
      }),
      routeContext({ paymentIntentId }),
    ),
  );
}

async function readPurchase(user: SignedUpUser | undefined, purchaseId: string) {
  return readJson<
    { id: string; status: string; credits: number; amount: number; currency: string } & ErrorBody
  >(
    await purchaseGet(
      appRequest(`/api/credits/purchases/${purchaseId}`, { cookie: user?.cookie }),
      routeContext({ purchaseId }),
    ),
  );
}

describe.each(databaseKinds())("credit purchases through the API on %s", (kind) => {
  let database: TestDatabase;
  let alice: SignedUpUser;
  let bob: SignedUpUser;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    alice = await signUp(`alice-${randomUUID()}@example.test`, "Alice");
    bob = await signUp(`bob-${randomUUID()}@example.test`, "Bob");
  });
  // `verify` after every test: a test can pass and still leave the ledger inconsistent.
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  async function startPurchase(user: SignedUpUser, packageId = "standard"): Promise<Created> {
    const { status, body } = await buy(user, { json: { packageId } });
    expect(status).toBe(201);
    return body;
  }

  describe("signed out", () => {
    it("answers 401 unauthorized on every credits endpoint and writes nothing", async () => {
      const mine = await startPurchase(alice);
      const purchasesBefore = (await database.db.select().from(creditPurchase)).length;
      const responses = {
        balance: await getBalance(),
        transactions: await readJson(
          await transactionsGet(appRequest("/api/credits/transactions"), noParams),
        ),
        purchase: await buy(undefined, { json: { packageId: "standard" } }),
        readPurchase: await readPurchase(undefined, mine.purchaseId),
        confirm: await confirm(undefined, mine.paymentIntentId, CARDS.succeeds),
      };
      for (const [endpoint, response] of Object.entries(responses)) {
        expect({ endpoint, status: response.status, code: (response.body as ErrorBody).error?.code }).toEqual(
          {
            endpoint,
            status: 401,
            code: "unauthorized",
          },
        );
      }
      // A forged or expired cookie is no better than none.
      const forged = await getBalance("better-auth.session_token=forged.token");
      expect(forged.status).toBe(401);
      expect((await purchaseRow(database.db, mine.purchaseId)).status).toBe("pending");
      expect(await database.db.select().from(creditPurchase)).toHaveLength(purchasesBefore);
      expect(await entriesOf(database.db, alice.id)).toEqual([]);
    });
  });

  describe("starting a purchase", () => {
    it("creates a pending purchase priced by the server, whatever price the client sends", async () => {
      const { status, body } = await buy(alice, {
        json: { packageId: "standard", price: 1, credits: 999999 },
      });

      expect(status).toBe(201);
      expect(body).toEqual({
        purchaseId: expect.any(String),
        paymentIntentId: expect.stringMatching(/^pi_/),
        clientSecret: expect.stringContaining("_secret_"),
        provider: "sandbox",
        publishableKey: null,
      });
      expect(await purchaseRow(database.db, body.purchaseId)).toMatchObject({
        userId: alice.id,
        packageId: "standard",
        credits: 500,
        amount: 3999,
        currency: "usd",
        provider: "sandbox",
        status: "pending",
        paymentIntentId: body.paymentIntentId,
      });
      const [intent] = await database.db
        .select()
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.id, body.paymentIntentId));
      expect(intent).toMatchObject({ amount: 3999, currency: "usd", clientSecret: body.clientSecret });

      const owner = await readPurchase(alice, body.purchaseId);
      expect(owner).toMatchObject({
        status: 200,
        body: { id: body.purchaseId, status: "pending", credits: 500 },
      });
    });

    it.each([
      {
        request: "an unknown package",
        init: { json: { packageId: "gold" } },
        status: 400,
        code: "package_unavailable",
      },
      {
        request: "malformed JSON",
        init: { body: '{"packageId": "standard"', contentType: "application/json" },
        status: 400,
        code: "malformed_json",
      },
      {
        request: "a non-JSON content type",
        init: { body: "packageId=standard", contentType: "application/x-www-form-urlencoded" },
        status: 415,
        code: "unsupported_media_type",
      },
      { request: "no packageId", init: { json: {} }, status: 400, code: "invalid_input" },
      {
        request: "an unknown extra field",
        init: { json: { packageId: "standard", discount: 100 } },
        status: 400,
        code: "invalid_input",
      },
      {
        request: "a numeric packageId",
        init: { json: { packageId: 2 } },
        status: 400,
        code: "invalid_input",
      },
      { request: "a JSON array", init: { json: ["standard"] }, status: 400, code: "invalid_input" },
      {
        request: "an oversized body",
        init: { json: { packageId: "standard", price: "x".repeat(20_000) } },
        status: 413,
        code: "payload_too_large",
      },
    ])("refuses $request with $status $code and writes nothing", async ({ init, status, code }) => {
      const purchasesBefore = (await purchasesOf(database.db, bob.id)).length;
      const intentsBefore = (await database.db.select().from(sandboxPaymentIntent)).length;

      const response = await buy(bob, init);

      expect(response.status).toBe(status);
      expect(response.body.error.code).toBe(code);
      expect(await purchasesOf(database.db, bob.id)).toHaveLength(purchasesBefore);
      expect(await database.db.select().from(sandboxPaymentIntent)).toHaveLength(intentsBefore);
    });
  });

  describe("paying in the sandbox", () => {
    it("credits the package once the test card 4242 succeeds, visible in balance and history", async () => {
      const payer = await signUp(`payer-${randomUUID()}@example.test`);
      const purchase = await startPurchase(payer);
      expect(await balance(payer)).toBe(0);

      const paid = await confirm(payer, purchase.paymentIntentId, CARDS.succeeds);

      expect(paid).toEqual({
        status: 200,
        body: { status: "succeeded", paymentIntentId: purchase.paymentIntentId },
      });
      expect(await balance(payer)).toBe(500);
      const history = await transactions(payer);
      expect(history).toEqual([
        expect.objectContaining({
          type: "purchase",
          amount: 500,
          balanceAfter: 500,
          description: "Purchased Standard package",
        }),
      ]);
      expect((await readPurchase(payer, purchase.purchaseId)).body.status).toBe("succeeded");

      // Pressing "pay" again (a double click, a retry after a timeout) charges and credits nothing more.
      expect((await confirm(payer, purchase.paymentIntentId, CARDS.succeeds)).status).toBe(200);
      expect(await balance(payer)).toBe(500);
      expect(await transactions(payer)).toHaveLength(1);
    });

    it.each([
      { card: CARDS.declined, declineCode: "generic_decline" },
      { card: CARDS.insufficientFunds, declineCode: "insufficient_funds" },
    ])(
      "answers 402 $declineCode for $card, fails the purchase and credits nothing",
      async ({ card, declineCode }) => {
        const payer = await signUp(`declined-${randomUUID()}@example.test`);
        const purchase = await startPurchase(payer);

        const declined = await confirm(payer, purchase.paymentIntentId, card);

        expect(declined.status).toBe(402);
        expect(declined.body).toMatchObject({
          status: "requires_payment_method",
          error: { code: "card_declined", declineCode },
        });
        expect(await purchaseRow(database.db, purchase.purchaseId)).toMatchObject({
          status: "failed",
          failureCode: declineCode,
        });
        expect(await balance(payer)).toBe(0);
        expect(await transactions(payer)).toEqual([]);
      },
    );

    it("lets the customer pay with another card after a decline", async () => {
      const payer = await signUp(`retry-${randomUUID()}@example.test`);
      const purchase = await startPurchase(payer, "basic");

      expect((await confirm(payer, purchase.paymentIntentId, CARDS.declined)).status).toBe(402);
      expect((await confirm(payer, purchase.paymentIntentId, CARDS.succeeds)).status).toBe(200);

      expect(await balance(payer)).toBe(100);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("succeeded");
    });

    it("refuses a card number that is not a card with 400 invalid_card", async () => {
      const purchase = await startPurchase(alice);

      const response = await confirm(alice, purchase.paymentIntentId, "1234 5678");

      expect(response.status).toBe(400);
      expect((response.body as unknown as ErrorBody).error.code).toBe("invalid_card");
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("pending");
    });
  });

  describe("one customer's purchases are invisible to another", () => {
    it("answers 404 when a user confirms someone else's PaymentIntent, and credits no one", async () => {
      const purchase = await startPurchase(alice);
      const aliceBefore = await balance(alice);
      const bobBefore = await balance(bob);

      const response = await confirm(bob, purchase.paymentIntentId, CARDS.succeeds);

      expect(response.status).toBe(404);
      expect((response.body as unknown as ErrorBody).error.code).toBe("not_found");
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("pending");
      expect(await balance(alice)).toBe(aliceBefore);
      expect(await balance(bob)).toBe(bobBefore);
      // The answer is the same as for a PaymentIntent that does not exist, so ids cannot be probed.
      const missing = await confirm(bob, "pi_sbx_does_not_exist", CARDS.succeeds);
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual(response.body);
    });

    it("answers 404 when a user reads someone else's purchase", async () => {
      const purchase = await startPurchase(alice);

      const response = await readPurchase(bob, purchase.purchaseId);

      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe("not_found");
      expect(response.body).toEqual((await readPurchase(bob, randomUUID())).body);
      expect((await readPurchase(bob, "not-a-uuid")).status).toBe(404);
    });

    it("shows each user only their own transactions", async () => {
      const payer = await signUp(`history-${randomUUID()}@example.test`);
      const onlooker = await signUp(`onlooker-${randomUUID()}@example.test`);
      const purchase = await startPurchase(payer, "basic");
      await confirm(payer, purchase.paymentIntentId, CARDS.succeeds);

      expect(await transactions(payer)).toHaveLength(1);
      expect(await transactions(onlooker)).toEqual([]);
      expect(await balance(onlooker)).toBe(0);
      // The user id comes from the session: a userId in the query is refused, not honoured.
      const spoofed = await transactionsGet(
        appRequest(`/api/credits/transactions?userId=${payer.id}`, { cookie: onlooker.cookie }),
        noParams,
      );
      expect(spoofed.status).toBe(400);
      expect(await entriesOf(database.db, onlooker.id)).toEqual([]);
    });
  });

  it("lists the four packages on sale publicly, with integer prices in minor units", async () => {
    const { status, body } = await readJson<{
      packages: { id: string; credits: number; price: { amount: number; currency: string } }[];
    }>(await packagesGet(new Request("http://localhost:3000/api/credits/packages")));

    expect(status).toBe(200);
    expect(body.packages.map((pkg) => pkg.id)).toEqual(["basic", "standard", "premium", "enterprise"]);
    for (const pkg of body.packages) {
      expect(Number.isInteger(pkg.price.amount)).toBe(true);
      expect(Number.isInteger(pkg.credits)).toBe(true);
      expect(pkg.price.currency).toBe("usd");
    }
    expect(body.packages.find((pkg) => pkg.id === "standard")).toMatchObject({
      credits: 500,
      price: { amount: 3999, currency: "usd" },
    });
  });
});

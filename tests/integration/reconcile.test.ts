import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { sandboxPaymentIntent } from "../../src/db/schema";
import { abandonStalePurchases } from "../../src/payment/abandon-stale-purchases";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { reconcilePayments } from "../../src/payment/reconcile-payments";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { createStripeClient } from "../../src/payment/stripe/stripe-client";
import { StripePaymentProvider } from "../../src/payment/stripe/stripe-provider";
import { receiveWebhook } from "../../src/payment/webhooks/receive-webhook";
import { assertLedgerInvariants } from "../support/invariants";
import { entriesOf, purchaseRow } from "../support/rows";
import { seedUser } from "../support/seed";
import { paymentIntentObject, signPayload, stripeEventPayload, testId } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const WEBHOOK_SECRET = "whsec_reconcile_tests";
const STRIPE_KEY = "sk_test_reconcile";
const DAY = 24 * 3600 * 1000;

describe.each(databaseKinds())("reconciling payments on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
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

  /** What the customer sees, and what the ledger holds for them. */
  async function customerState(userId: string) {
    const entries = await entriesOf(database.db, userId);
    return {
      balance: (await getBalance(database.db, userId)).balance,
      entries: entries.map((entry) => ({ type: entry.type, amount: entry.amount })),
    };
  }

  /** A delivered payment_intent.succeeded webhook, signed like Stripe's. */
  async function deliverSucceeded(intent: {
    id: string;
    amount: number;
    metadata: Record<string, string>;
  }): Promise<string> {
    const rawBody = stripeEventPayload(
      "payment_intent.succeeded",
      paymentIntentObject({ ...intent, currency: "usd" }),
      testId("evt"),
    );
    const { outcome } = await receiveWebhook(database.db, {
      rawBody,
      signature: signPayload(rawBody, WEBHOOK_SECRET),
      secret: WEBHOOK_SECRET,
    });
    return outcome;
  }

  describe("with the sandbox provider", () => {
    let sandbox: SandboxPaymentProvider;
    beforeAll(() => {
      sandbox = new SandboxPaymentProvider(database.db, WEBHOOK_SECRET);
    });
    const recently = () => new Date(Date.now() - DAY);

    async function startPurchase(packageId = "standard") {
      const userId = await seedUser(database.db);
      const created = await createCreditPurchase(database.db, sandbox, { userId, packageId });
      return { userId, ...created };
    }

    /** The payment went through at the provider, but its webhook was lost on the way. */
    async function succeedWithoutWebhook(paymentIntentId: string, createdAt?: Date) {
      await database.db
        .update(sandboxPaymentIntent)
        .set({ status: "succeeded", updatedAt: sql`now()`, ...(createdAt ? { createdAt } : {}) })
        .where(eq(sandboxPaymentIntent.id, paymentIntentId));
    }

    it("credits a payment whose webhook never arrived, once, however often it runs", async () => {
      const lost = await startPurchase();
      await succeedWithoutWebhook(lost.paymentIntentId);
      expect(await customerState(lost.userId)).toEqual({ balance: 0, entries: [] });
      expect((await purchaseRow(database.db, lost.purchaseId)).status).toBe("pending");

      const first = await reconcilePayments(database.db, sandbox, recently());

      expect(first).toMatchObject({ granted: 1, other: {} });
      expect(await customerState(lost.userId)).toEqual({
        balance: 500,
        entries: [{ type: "purchase", amount: 500 }],
      });
      expect(await purchaseRow(database.db, lost.purchaseId)).toMatchObject({
        status: "succeeded",
        grantEntryId: expect.any(Number),
      });

      const second = await reconcilePayments(database.db, sandbox, recently());

      expect(second).toMatchObject({ granted: 0, checked: first.checked });
      expect(await customerState(lost.userId)).toEqual({
        balance: 500,
        entries: [{ type: "purchase", amount: 500 }],
      });
      expect((await verifyLedger(database.db)).violations).toEqual([]);
    });

    it("does not credit again a purchase its webhook already credited", async () => {
      const paid = await startPurchase("basic");
      const confirmed = await confirmSandboxPayment(database.db, {
        paymentIntentId: paid.paymentIntentId,
        userId: paid.userId,
        cardNumber: "4242 4242 4242 4242",
        webhookSecret: WEBHOOK_SECRET,
      });
      expect(confirmed.status).toBe("succeeded");
      expect((await customerState(paid.userId)).balance).toBe(100);

      const report = await reconcilePayments(database.db, sandbox, recently());

      expect(report.granted).toBe(0);
      expect(report.alreadyGranted).toBeGreaterThanOrEqual(1);
      expect(await customerState(paid.userId)).toEqual({
        balance: 100,
        entries: [{ type: "purchase", amount: 100 }],
      });
      expect((await verifyLedger(database.db)).violations).toEqual([]);
    });

    it("ignores the webhook that finally arrives after reconcile credited the payment", async () => {
      const late = await startPurchase();
      await succeedWithoutWebhook(late.paymentIntentId);
      expect((await reconcilePayments(database.db, sandbox, recently())).granted).toBe(1);

      const outcome = await deliverSucceeded({
        id: late.paymentIntentId,
        amount: 3999,
        metadata: { purchaseId: late.purchaseId, userId: late.userId, packageId: "standard" },
      });

      expect(outcome).toBe("already_granted");
      expect(await customerState(late.userId)).toEqual({
        balance: 500,
        entries: [{ type: "purchase", amount: 500 }],
      });
    });

    it("credits nothing for a payment that has not succeeded or was declined", async () => {
      const pending = await startPurchase();
      const declined = await startPurchase();
      await confirmSandboxPayment(database.db, {
        paymentIntentId: declined.paymentIntentId,
        userId: declined.userId,
        cardNumber: "4000 0000 0000 0002",
        webhookSecret: WEBHOOK_SECRET,
      });

      const report = await reconcilePayments(database.db, sandbox, recently());

      expect(report.granted).toBe(0);
      expect(await customerState(pending.userId)).toEqual({ balance: 0, entries: [] });
      expect(await customerState(declined.userId)).toEqual({ balance: 0, entries: [] });
      expect((await purchaseRow(database.db, pending.purchaseId)).status).toBe("pending");
      expect((await purchaseRow(database.db, declined.purchaseId)).status).toBe("failed");
    });

    it("looks only at payments made since the time it is given", async () => {
      const old = await startPurchase("basic");
      await succeedWithoutWebhook(old.paymentIntentId, new Date(Date.now() - 3 * DAY));

      expect((await reconcilePayments(database.db, sandbox, new Date(Date.now() - 2 * DAY))).granted).toBe(0);
      expect((await customerState(old.userId)).balance).toBe(0);

      expect((await reconcilePayments(database.db, sandbox, new Date(Date.now() - 4 * DAY))).granted).toBe(1);
      expect((await customerState(old.userId)).balance).toBe(100);
    });
  });

  describe("with the Stripe provider against a local Stripe", () => {
    let stripe: FakeStripeIntents;
    let provider: StripePaymentProvider;
    beforeAll(async () => {
      stripe = await startFakeStripeIntents({ pageSize: 3 });
      provider = new StripePaymentProvider(createStripeClient(STRIPE_KEY, stripe.url));
    });
    afterAll(async () => {
      await stripe?.close();
    });

    async function startPurchase(packageId = "standard") {
      const userId = await seedUser(database.db);
      const created = await createCreditPurchase(database.db, provider, { userId, packageId });
      return { userId, ...created };
    }

    it("credits only succeeded PaymentIntents, across every page of Stripe's list, and is idempotent", async () => {
      const since = new Date(Date.now() - DAY);
      const lostA = await startPurchase("standard");
      const unpaid = await startPurchase("standard");
      const lostB = await startPurchase("basic");
      const credited = await startPurchase("premium");
      const tampered = await startPurchase("basic");
      stripe.update(lostA.paymentIntentId, { status: "succeeded" });
      stripe.update(lostB.paymentIntentId, { status: "succeeded" });
      stripe.update(credited.paymentIntentId, { status: "succeeded" });
      // Paid, but not what was sold: reconcile must not grant it either, and flags it.
      stripe.update(tampered.paymentIntentId, { status: "succeeded", amount_received: 1 });
      // A payment of another product on the same Stripe account.
      stripe.add({ status: "succeeded", amount: 500, metadata: {} });
      // The webhook of one payment did arrive.
      expect(
        await deliverSucceeded({
          id: credited.paymentIntentId,
          amount: 7999,
          metadata: { purchaseId: credited.purchaseId, userId: credited.userId, packageId: "premium" },
        }),
      ).toBe("granted");

      const first = await reconcilePayments(database.db, provider, since);

      expect(first).toEqual({
        checked: 5,
        granted: 2,
        alreadyGranted: 1,
        other: { mismatch_flagged: 1, unknown_payment_intent: 1 },
      });
      // Six PaymentIntents, three a page: the SDK followed has_more with starting_after.
      const lists = stripe.requests.filter((request) => request.method === "GET");
      expect(lists).toHaveLength(2);
      expect(lists[0]?.authorization).toBe(`Bearer ${STRIPE_KEY}`);
      expect(lists[0]?.query.get("created[gte]")).toBe(String(Math.floor(since.getTime() / 1000)));
      expect(lists[0]?.query.get("starting_after")).toBeNull();
      expect(lists[1]?.query.get("starting_after")).toBe(stripe.listed[2]);

      const expected = {
        lostA: { balance: 500, entries: [{ type: "purchase", amount: 500 }] },
        unpaid: { balance: 0, entries: [] },
        lostB: { balance: 100, entries: [{ type: "purchase", amount: 100 }] },
        credited: { balance: 1200, entries: [{ type: "purchase", amount: 1200 }] },
        tampered: { balance: 0, entries: [] },
      };
      const actual = async () => ({
        lostA: await customerState(lostA.userId),
        unpaid: await customerState(unpaid.userId),
        lostB: await customerState(lostB.userId),
        credited: await customerState(credited.userId),
        tampered: await customerState(tampered.userId),
      });
      expect(await actual()).toEqual(expected);
      expect((await purchaseRow(database.db, lostA.purchaseId)).status).toBe("succeeded");
      expect((await purchaseRow(database.db, unpaid.purchaseId)).status).toBe("pending");
      expect((await purchaseRow(database.db, tampered.purchaseId)).status).toBe("requires_review");

      const second = await reconcilePayments(database.db, provider, since);

      expect(second).toMatchObject({ checked: 5, granted: 0 });
      expect(await actual()).toEqual(expected);
      expect(stripe.requests.filter((request) => request.method === "GET")).toHaveLength(4);
      expect((await verifyLedger(database.db)).violations).toEqual([]);
    });

    // A payment the first run could not grant (not ours, or flagged) must keep showing up on later runs,
    // not pass for "already granted".
    it("keeps reporting a payment it could not grant on later runs, not as already granted", async () => {
      const own = await startFakeStripeIntents({ pageSize: 100 });
      try {
        own.add({ status: "succeeded", amount: 500, metadata: {} });
        const ownProvider = new StripePaymentProvider(createStripeClient(STRIPE_KEY, own.url));
        const since = new Date(Date.now() - DAY);
        const first = await reconcilePayments(database.db, ownProvider, since);
        expect(first).toEqual({
          checked: 1,
          granted: 0,
          alreadyGranted: 0,
          other: { unknown_payment_intent: 1 },
        });

        const second = await reconcilePayments(database.db, ownProvider, since);

        expect(second).toEqual(first);
      } finally {
        await own.close();
      }
    });

    // Abandoning a purchase cancels its PaymentIntent at Stripe, so an old pay dialog can no longer take
    // money; one that Stripe refuses to cancel because it was paid is granted instead.
    it("cancels abandoned purchases' PaymentIntents at Stripe, and grants one that turns out paid", async () => {
      const unpaid = await startPurchase("basic");
      const paid = await startPurchase("basic");
      stripe.update(paid.paymentIntentId, { status: "succeeded" });
      await database.db.execute(
        sql`UPDATE credit_purchase SET created_at = now() - interval '25 hours'
            WHERE id IN (${unpaid.purchaseId}, ${paid.purchaseId})`,
      );

      const report = await abandonStalePurchases(database.db, provider);

      expect(report).toMatchObject({ paid: 1, cancelFailed: 0 });
      expect(stripe.intent(unpaid.paymentIntentId)).toMatchObject({
        status: "canceled",
        cancellation_reason: "abandoned",
      });
      expect((await purchaseRow(database.db, unpaid.purchaseId)).status).toBe("abandoned");
      expect((await purchaseRow(database.db, paid.purchaseId)).status).toBe("succeeded");
      expect(await customerState(paid.userId)).toEqual({
        balance: 100,
        entries: [{ type: "purchase", amount: 100 }],
      });
      // The next reconciliation finds the abandoned one canceled and leaves it.
      const next = await reconcilePayments(database.db, provider, new Date(Date.now() - DAY));
      expect(next.granted).toBe(0);
      expect((await purchaseRow(database.db, unpaid.purchaseId)).status).toBe("abandoned");
    });
  });
});

type FakeIntent = {
  id: string;
  amount: number;
  currency: string;
  status: string;
  metadata: Record<string, string>;
  created: number;
  amount_received?: number;
  cancellation_reason?: string | null;
};

type RecordedRequest = { method: string; path: string; authorization?: string; query: URLSearchParams };

type FakeStripeIntents = {
  url: string;
  requests: RecordedRequest[];
  /** Ids of the PaymentIntents in the order the list answers them (newest first). */
  listed: string[];
  update: (id: string, patch: Partial<FakeIntent>) => void;
  intent: (id: string) => FakeIntent | undefined;
  add: (intent: Omit<FakeIntent, "id" | "currency" | "created">) => void;
  close: () => Promise<void>;
};

/**
 * Stripe's PaymentIntents on 127.0.0.1, for the real SDK: POST /v1/payment_intents creates one (awaiting
 * payment), GET /v1/payment_intents lists them newest first, `pageSize` a page, with `has_more` and
 * `starting_after` as Stripe pages; GET /v1/payment_intents/:id retrieves one, POST …/:id/cancel cancels
 * one awaiting payment (any other answers 400 payment_intent_unexpected_state, as Stripe does). The test
 * moves them to other states with update().
 */
async function startFakeStripeIntents(options: { pageSize: number }): Promise<FakeStripeIntents> {
  const intents: FakeIntent[] = [];
  const requests: RecordedRequest[] = [];
  let counter = 0;
  // Unique per fake server: PaymentIntent ids are global at Stripe, and the suite shares one database.
  const run = randomUUID().slice(0, 8);
  const nextId = () => `pi_fake_${run}_${String(++counter).padStart(4, "0")}`;
  const newestFirst = () => [...intents].reverse();
  const toStripe = (intent: FakeIntent) => ({
    object: "payment_intent",
    livemode: false,
    latest_charge: intent.status === "succeeded" ? `ch_for_${intent.id}` : null,
    last_payment_error: null,
    ...intent,
    amount_received: intent.amount_received ?? (intent.status === "succeeded" ? intent.amount : 0),
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const authorization = req.headers.authorization;
      requests.push({ method: req.method ?? "", path: url.pathname, authorization, query: url.searchParams });
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json", "request-id": `req_${counter}` });
        res.end(JSON.stringify(body));
      };
      const one = /^\/v1\/payment_intents\/([^/]+)(\/cancel)?$/.exec(url.pathname);
      if (one) {
        const intent = intents.find((candidate) => candidate.id === one[1]);
        if (!intent) {
          send(404, {
            error: {
              type: "invalid_request_error",
              code: "resource_missing",
              message: "No such payment_intent",
            },
          });
          return;
        }
        if (one[2] && req.method === "POST") {
          // Stripe cancels only a PaymentIntent awaiting payment; any other is refused with its state.
          if (
            !["requires_payment_method", "requires_confirmation", "requires_action"].includes(intent.status)
          ) {
            send(400, {
              error: {
                type: "invalid_request_error",
                code: "payment_intent_unexpected_state",
                message: `You cannot cancel this PaymentIntent because it has a status of ${intent.status}.`,
              },
            });
            return;
          }
          const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
          intent.status = "canceled";
          intent.cancellation_reason = form.get("cancellation_reason");
        }
        send(200, toStripe(intent));
        return;
      }
      if (url.pathname !== "/v1/payment_intents") {
        send(404, { error: { type: "invalid_request_error", message: `No such route ${url.pathname}` } });
        return;
      }
      if (req.method === "POST") {
        const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
        const metadata = Object.fromEntries(
          [...form.entries()]
            .filter(([name]) => name.startsWith("metadata["))
            .map(([name, value]) => [name.slice("metadata[".length, -1), value]),
        );
        const intent: FakeIntent = {
          id: nextId(),
          amount: Number(form.get("amount")),
          currency: form.get("currency") ?? "usd",
          status: "requires_payment_method",
          metadata,
          created: Math.floor(Date.now() / 1000),
        };
        intents.push(intent);
        send(200, { ...toStripe(intent), client_secret: `${intent.id}_secret_fake` });
        return;
      }
      const gte = Number(url.searchParams.get("created[gte]") ?? "0");
      const limit = Math.min(Number(url.searchParams.get("limit") ?? "10"), options.pageSize);
      const after = url.searchParams.get("starting_after");
      const matching = newestFirst().filter((intent) => intent.created >= gte);
      const start = after ? matching.findIndex((intent) => intent.id === after) + 1 : 0;
      const page = matching.slice(start, start + limit);
      send(200, {
        object: "list",
        url: "/v1/payment_intents",
        has_more: start + limit < matching.length,
        data: page.map(toStripe),
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    intent: (id) => intents.find((candidate) => candidate.id === id),
    get listed() {
      return newestFirst().map((intent) => intent.id);
    },
    update: (id, patch) => {
      const intent = intents.find((candidate) => candidate.id === id);
      if (!intent) throw new Error(`no PaymentIntent ${id}`);
      Object.assign(intent, patch);
    },
    add: (intent) => {
      intents.push({ id: nextId(), currency: "usd", created: Math.floor(Date.now() / 1000), ...intent });
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

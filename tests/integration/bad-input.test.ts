import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GET as purchaseGet } from "../../src/app/api/credits/purchases/[purchaseId]/route";
import { POST as purchasesPost } from "../../src/app/api/credits/purchases/route";
import { GET as transactionsGet } from "../../src/app/api/credits/transactions/route";
import { POST as confirmPost } from "../../src/app/api/sandbox/payment-intents/[paymentIntentId]/confirm/route";
import { POST as webhookPost } from "../../src/app/api/webhooks/stripe/route";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { useDatabaseConnection } from "../../src/db/client";
import type { Database } from "../../src/db/types";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { createApiKey, revokeApiKey } from "../../src/service-api/api-keys";
import { type V1Call, v1 } from "../support/api-v1";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { configureServerEnv } from "../support/server-env";
import { paymentIntentObject, signPayload, stripeEventPayload } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

/**
 * Malformed, hostile and mistaken requests across every endpoint. Each must be refused with a 4xx and an
 * error code, and afterwards the ledger must be exactly as it was.
 */
const serverEnv = configureServerEnv({
  RATE_LIMIT_PURCHASES_PER_MINUTE: "0",
  RATE_LIMIT_API_PER_MINUTE: "0",
});
afterAll(() => serverEnv.cleanup());

const MEGABYTE = "x".repeat(1024 * 1024);

type Case = {
  name: string;
  send: () => Promise<Response | { status: number; body: unknown }>;
  status: number;
  code?: string;
};

async function snapshot(db: Database) {
  const result = (await db.execute(sql`
    SELECT (SELECT count(*) FROM credit_entry) AS entries,
           (SELECT coalesce(sum(balance), 0) FROM credit_account) AS balances,
           (SELECT count(*) FROM credit_lot) AS lots,
           (SELECT count(*) FROM credit_hold) AS holds,
           (SELECT count(*) FROM credit_purchase) AS purchases,
           (SELECT count(*) FROM webhook_event) AS events,
           (SELECT count(*) FROM api_idempotency) AS idempotency,
           (SELECT count(*) FROM sandbox_payment_intent WHERE status <> 'requires_payment_method') AS confirmed
  `)) as unknown as { rows: Record<string, unknown>[] };
  return result.rows[0];
}

describe.each(databaseKinds())("bad input on %s", (kind) => {
  let database: TestDatabase;
  let alice: SignedUpUser;
  let bob: SignedUpUser;
  let key: string;
  let revokedKey: string;
  let bobPaymentIntent: string;
  let bobPurchase: string;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    alice = await signUp(`alice-${kind}@example.test`);
    bob = await signUp(`bob-${kind}@example.test`);
    await addCredits(database.db, {
      userId: alice.id,
      amount: 100,
      type: "grant",
      description: "seed",
      idempotencyKey: "seed",
    });
    key = (await createApiKey(database.db, "bad-input", { userId: null, label: "test" })).key;
    const revoked = await createApiKey(database.db, "revoked", { userId: null, label: "test" });
    await revokeApiKey(database.db, revoked.apiKey.id, { userId: null, label: "test" });
    revokedKey = revoked.key;
    const created = await purchasesPost(
      appRequest("/api/credits/purchases", { cookie: bob.cookie, json: { packageId: "basic" } }),
      routeContext({}),
    );
    const body = (await created.json()) as { purchaseId: string; paymentIntentId: string };
    bobPurchase = body.purchaseId;
    bobPaymentIntent = body.paymentIntentId;
  });
  afterAll(async () => {
    await database?.close();
  });

  const noParams = routeContext({});
  const purchase = (init: Parameters<typeof appRequest>[1]) =>
    purchasesPost(appRequest("/api/credits/purchases", { cookie: alice.cookie, ...init }), noParams);
  const history = (query: string) =>
    transactionsGet(appRequest(`/api/credits/transactions?${query}`, { cookie: alice.cookie }), noParams);
  const confirm = (paymentIntentId: string, init: Parameters<typeof appRequest>[1]) =>
    confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: alice.cookie,
        ...init,
      }),
      routeContext({ paymentIntentId }),
    );
  const webhook = (body: string, signature?: string) =>
    webhookPost(
      new Request("http://localhost:3000/api/webhooks/stripe", {
        method: "POST",
        body,
        headers: signature ? { "stripe-signature": signature } : {},
      }),
    );
  const consume = (call: V1Call) => v1.consume(alice.id, { key, ...call });
  const bobEvent = () =>
    stripeEventPayload(
      "payment_intent.succeeded",
      paymentIntentObject({
        id: bobPaymentIntent,
        amount: 999,
        currency: "usd",
        metadata: { purchaseId: bobPurchase, userId: bob.id, packageId: "basic" },
      }),
    );

  const cases: Case[] = [
    // Purchases (session API)
    {
      name: "purchase signed out",
      send: () =>
        purchasesPost(appRequest("/api/credits/purchases", { json: { packageId: "basic" } }), noParams),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "purchase with malformed JSON",
      send: () => purchase({ body: '{"packageId": "basic"', contentType: "application/json" }),
      status: 400,
      code: "malformed_json",
    },
    {
      name: "purchase as text/plain",
      send: () => purchase({ body: '{"packageId":"basic"}', contentType: "text/plain" }),
      status: 415,
      code: "unsupported_media_type",
    },
    {
      name: "purchase as a form",
      send: () => purchase({ body: "packageId=basic", contentType: "application/x-www-form-urlencoded" }),
      status: 415,
      code: "unsupported_media_type",
    },
    {
      name: "purchase without packageId",
      send: () => purchase({ json: {} }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase with a numeric packageId",
      send: () => purchase({ json: { packageId: 1 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase of an unknown package",
      send: () => purchase({ json: { packageId: "platinum" } }),
      status: 400,
      code: "package_unavailable",
    },
    {
      name: "purchase with an empty packageId",
      send: () => purchase({ json: { packageId: "" } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase with control characters",
      send: () => purchase({ json: { packageId: "basic\u0000\u202e" } }),
      status: 400,
      code: "package_unavailable",
    },
    {
      name: "purchase with unicode lookalikes",
      send: () => purchase({ json: { packageId: "bаsic" } }),
      status: 400,
      code: "package_unavailable",
    },
    {
      name: "purchase with an unknown field",
      send: () => purchase({ json: { packageId: "basic", discount: 100 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase with a 1 MB body",
      send: () => purchase({ json: { packageId: "basic", pad: MEGABYTE } }),
      status: 413,
      code: "payload_too_large",
    },
    {
      name: "purchase with a JSON array",
      send: () => purchase({ json: ["basic"] }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase with JSON null",
      send: () => purchase({ body: "null", contentType: "application/json" }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase with a huge packageId",
      send: () => purchase({ json: { packageId: "b".repeat(10_000) } }),
      status: 400,
      code: "invalid_input",
    },
    // History
    {
      name: "history limit not a number",
      send: () => history("limit=abc"),
      status: 400,
      code: "invalid_input",
    },
    { name: "history limit zero", send: () => history("limit=0"), status: 400, code: "invalid_input" },
    { name: "history limit 1e3", send: () => history("limit=1e3"), status: 400, code: "invalid_input" },
    { name: "history limit negative", send: () => history("limit=-1"), status: 400, code: "invalid_input" },
    {
      name: "history limit fractional",
      send: () => history("limit=1.5"),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "history cursor not a cursor",
      send: () => history("cursor=abc"),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "history cursor past 2^53",
      send: () => history("cursor=99999999999999999999"),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "history unknown parameter",
      send: () => history("userId=someone-else"),
      status: 400,
      code: "invalid_input",
    },
    // Another user's ids
    {
      name: "reading another user's purchase",
      send: () =>
        purchaseGet(
          appRequest(`/api/credits/purchases/${bobPurchase}`, { cookie: alice.cookie }),
          routeContext({ purchaseId: bobPurchase }),
        ),
      status: 404,
      code: "not_found",
    },
    {
      name: "reading a purchase by a non-id",
      send: () =>
        purchaseGet(
          appRequest("/api/credits/purchases/1%20OR%201=1", { cookie: alice.cookie }),
          routeContext({ purchaseId: "1 OR 1=1" }),
        ),
      status: 404,
      code: "not_found",
    },
    {
      name: "confirming another user's payment",
      send: () => confirm(bobPaymentIntent, { json: { cardNumber: "4242424242424242" } }),
      status: 404,
      code: "not_found",
    },
    // Sandbox confirm
    {
      name: "confirm with letters for a card",
      send: () => confirm(bobPaymentIntent, { cookie: bob.cookie, json: { cardNumber: "abcd efgh" } }),
      status: 400,
      code: "invalid_card",
    },
    {
      name: "confirm without a card",
      send: () => confirm(bobPaymentIntent, { cookie: bob.cookie, json: {} }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "confirm with a numeric card",
      send: () => confirm(bobPaymentIntent, { cookie: bob.cookie, json: { cardNumber: 4242424242424242 } }),
      status: 400,
      code: "invalid_input",
    },
    // Webhooks
    {
      name: "webhook without a signature",
      send: () => webhook(bobEvent()),
      status: 400,
      code: "invalid_signature",
    },
    {
      name: "webhook signed with another secret",
      send: () => {
        const body = bobEvent();
        return webhook(body, signPayload(body, "whsec_forged"));
      },
      status: 400,
      code: "invalid_signature",
    },
    {
      name: "webhook with a replayed old signature",
      send: () => {
        const body = bobEvent();
        return webhook(body, signPayload(body, webhookSigningSecret(), Math.floor(Date.now() / 1000) - 600));
      },
      status: 400,
      code: "invalid_signature",
    },
    {
      name: "webhook body altered after signing",
      send: () => {
        const body = bobEvent();
        return webhook(body.replace('"amount":999', '"amount":1'), signPayload(body, webhookSigningSecret()));
      },
      status: 400,
      code: "invalid_signature",
    },
    {
      name: "webhook with a garbage signature header",
      send: () => webhook(bobEvent(), "t=abc,v1=zzz"),
      status: 400,
      code: "invalid_signature",
    },
    {
      name: "webhook with a 2 MB body, validly signed",
      send: () => {
        const body = bobEvent().replace(/}$/, `,"padding":"${"x".repeat(2 * 1024 * 1024)}"}`);
        return webhook(body, signPayload(body, webhookSigningSecret()));
      },
      status: 413,
      code: "payload_too_large",
    },
    // Service API
    {
      name: "API without a key",
      send: () => consume({ authorization: null, json: { amount: 1 } }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "API with a revoked key",
      send: () => consume({ key: revokedKey, json: { amount: 1 } }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "API with a made-up key",
      send: () => consume({ key: "ck_not_a_real_key", json: { amount: 1 } }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "API with Basic auth",
      send: () => consume({ authorization: "Basic YWRtaW46YWRtaW4=", json: { amount: 1 } }),
      status: 401,
      code: "unauthorized",
    },
    {
      name: "consume a fractional amount",
      send: () => consume({ json: { amount: 1.5 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume the string 1e3",
      send: () => consume({ json: { amount: "1e3" } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume 2^53",
      send: () => consume({ json: { amount: 2 ** 53 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume a number past 2^53 in raw JSON",
      send: () => consume({ body: '{"amount": 9007199254740993}', contentType: "application/json" }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume a negative amount",
      send: () => consume({ json: { amount: -5 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume zero",
      send: () => consume({ json: { amount: 0 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume 1e308",
      send: () => consume({ body: '{"amount": 1e308}', contentType: "application/json" }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume without an amount",
      send: () => consume({ json: { description: "x" } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume with an unknown field",
      send: () => consume({ json: { amount: 1, price: 0 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume with a 10 kB description",
      send: () => consume({ json: { amount: 1, description: "d".repeat(10_000) } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume with 100 metadata keys",
      send: () =>
        consume({
          json: {
            amount: 1,
            metadata: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])),
          },
        }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume without an Idempotency-Key",
      send: () => consume({ idempotencyKey: null, json: { amount: 1 } }),
      status: 400,
      code: "idempotency_key_required",
    },
    {
      name: "consume with a spaced Idempotency-Key",
      send: () => consume({ idempotencyKey: "two words", json: { amount: 1 } }),
      status: 400,
      code: "idempotency_key_required",
    },
    {
      name: "consume as text/plain",
      send: () => consume({ body: '{"amount":1}', contentType: "text/plain" }),
      status: 415,
      code: "unsupported_media_type",
    },
    {
      name: "consume with a 1 MB body",
      send: () => consume({ json: { amount: 1, description: MEGABYTE } }),
      status: 413,
      code: "payload_too_large",
    },
    {
      name: "consume for an unknown user",
      send: () => v1.consume("no-such-user", { key, json: { amount: 1 } }),
      status: 404,
      code: "not_found",
    },
    {
      name: "grant expiring in the past",
      send: () => v1.grant(alice.id, { key, json: { amount: 5, expiresAt: "2001-01-01T00:00:00Z" } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "grant with a non-date expiry",
      send: () => v1.grant(alice.id, { key, json: { amount: 5, expiresAt: "tomorrow" } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "grant in an unknown category",
      send: () => v1.grant(alice.id, { key, json: { amount: 5, category: "gold" } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "hold with a zero TTL",
      send: () => v1.hold(alice.id, { key, json: { amount: 5, ttlSeconds: 0 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "hold with a year-long TTL",
      send: () => v1.hold(alice.id, { key, json: { amount: 5, ttlSeconds: 31_536_000 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "capture a hold id that is not an id",
      send: () => v1.capture("../../etc/passwd", { key, json: {} }),
      status: 404,
      code: "not_found",
    },
    {
      name: "capture an unknown hold",
      send: () => v1.capture("00000000-0000-4000-8000-000000000000", { key, json: {} }),
      status: 404,
      code: "not_found",
    },
    {
      name: "capture a negative amount",
      send: () => v1.capture("00000000-0000-4000-8000-000000000000", { key, json: { amount: -1 } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "history of an unknown user",
      send: () => v1.transactions("nobody", { key }),
      status: 404,
      code: "not_found",
    },
  ];

  let before: Awaited<ReturnType<typeof snapshot>>;
  it(`covers at least 40 malformed requests (${cases.length})`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    before = await snapshot(database.db);
  });

  it.each(cases)("refuses: $name", async (testCase) => {
    const response = await testCase.send();
    const { status, body } =
      response instanceof Response
        ? await readJson<{ error?: { code?: string } }>(response)
        : (response as { status: number; body: { error?: { code?: string } } });
    expect(status).toBe(testCase.status);
    expect(typeof body.error?.code).toBe("string");
    if (testCase.code) expect(body.error?.code).toBe(testCase.code);
  });

  it("leaves the ledger, purchases, events and idempotency records exactly as they were", async () => {
    expect(await snapshot(database.db)).toEqual(before);
    expect((await verifyLedger(database.db)).violations).toEqual([]);
  });
});

import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adjustCredits } from "../../src/admin/adjust-credits";
import { getUserOverview } from "../../src/admin/get-user-overview";
import { listUsers } from "../../src/admin/list-users";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { useDatabaseConnection } from "../../src/db/client";
import type { Database } from "../../src/db/types";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { classifyError } from "../../src/server/http-errors";
import { createApiKey, revokeApiKey } from "../../src/service-api/api-keys";
import { observedAnswers, undocumentedAnswers, type V1Call, v1 } from "../support/api-v1";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import {
  authPost,
  confirmPost,
  generateImagePost,
  openApiGet,
  purchaseGet,
  purchasesPost,
  transactionsGet,
  webhookPost,
} from "../support/route-handlers";
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
/** PostgreSQL's text and jsonb cannot hold U+0000: every field that takes text must refuse it up front. */
const NUL = "\u0000";
/** An unpaired UTF-16 surrogate: valid in a JSON escape, no UTF-8 form, silently stored as U+FFFD. */
const LONE_SURROGATE_JSON = '"\\ud800"';

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
      send: () => purchase({ json: { packageId: "basic\u202e" } }),
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
      name: "consume as application/json-patch+json (another media type)",
      send: () => consume({ body: '{"amount":1}', contentType: "application/json-patch+json" }),
      status: 415,
      code: "unsupported_media_type",
    },
    {
      name: "consume with the metadata key __proto__ (would be dropped, not stored)",
      send: () =>
        consume({ body: '{"amount":1,"metadata":{"__proto__":"x"}}', contentType: "application/json" }),
      status: 400,
      code: "invalid_input",
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
    // Text PostgreSQL cannot store (U+0000, unpaired surrogates, bytes that are not UTF-8), in every kind
    // of field of every endpoint: a 4xx with a code, never a retryable 500.
    ...(
      [
        ["consume", (call: V1Call) => v1.consume(alice.id, { key, ...call })],
        ["grant", (call: V1Call) => v1.grant(alice.id, { key, ...call })],
        ["hold", (call: V1Call) => v1.hold(alice.id, { key, ...call })],
      ] as const
    ).flatMap(([endpoint, call]): Case[] => [
      {
        name: `${endpoint} with NUL in the description`,
        send: () => call({ json: { amount: 1, description: `Video${NUL}export` } }),
        status: 400,
        code: "invalid_input",
      },
      {
        name: `${endpoint} with only NUL as the description`,
        send: () => call({ json: { amount: 1, description: NUL } }),
        status: 400,
        code: "invalid_input",
      },
      {
        name: `${endpoint} with an unpaired surrogate in the description`,
        send: () =>
          call({
            body: `{"amount":1,"description":${LONE_SURROGATE_JSON}}`,
            contentType: "application/json",
          }),
        status: 400,
        code: "invalid_input",
      },
      {
        name: `${endpoint} with bytes that are not UTF-8`,
        send: () =>
          call({
            body: Buffer.concat([
              Buffer.from('{"amount":1,"description":"a'),
              Buffer.from([0xff]),
              Buffer.from('"}'),
            ]),
            contentType: "application/json",
          }),
        status: 400,
        code: "malformed_json",
      },
      {
        name: `${endpoint} with NUL in an unknown field`,
        send: () => call({ json: { amount: 1, [`x${NUL}`]: NUL } }),
        status: 400,
        code: "invalid_input",
      },
      {
        name: `${endpoint} for a user id with NUL in the path`,
        send: () =>
          ({ consume: v1.consume, grant: v1.grant, hold: v1.hold })[endpoint](`${alice.id}${NUL}`, {
            key,
            json: { amount: 1 },
          }),
        status: 404,
        code: "not_found",
      },
    ]),
    {
      name: "consume with NUL in a metadata value",
      send: () => consume({ json: { amount: 1, metadata: { job: `a${NUL}b` } } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume with NUL in a metadata key",
      send: () => consume({ json: { amount: 1, metadata: { [`job${NUL}`]: "a" } } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume with an unpaired surrogate in a metadata key",
      send: () =>
        consume({
          body: `{"amount":1,"metadata":{${LONE_SURROGATE_JSON}:"a"}}`,
          contentType: "application/json",
        }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "consume with NUL deep inside a nested unknown field",
      send: () => consume({ json: { amount: 1, extra: { a: [{ b: NUL }] } } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "capture with NUL in the hold id",
      send: () => v1.capture(`00000000-0000-4000-8000-000000000000${NUL}`, { key, json: {} }),
      status: 404,
      code: "not_found",
    },
    {
      name: "release with NUL in the hold id",
      send: () => v1.release(`00000000-0000-4000-8000-000000000000${NUL}`, { key }),
      status: 404,
      code: "not_found",
    },
    {
      name: "balance of a user id with NUL",
      send: () => v1.balance(`${alice.id}${NUL}`, { key }),
      status: 404,
      code: "not_found",
    },
    {
      name: "history of a user id with NUL",
      send: () => v1.transactions(`${alice.id}${NUL}`, { key }),
      status: 404,
      code: "not_found",
    },
    {
      name: "API history with NUL in the cursor",
      send: () => v1.transactions(alice.id, { key, query: "cursor=1%00" }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "API history with NUL in a parameter name",
      send: () => v1.transactions(alice.id, { key, query: "limit%00=1" }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "history with NUL in the cursor",
      send: () => history("cursor=%00"),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase with NUL in the packageId",
      send: () => purchase({ json: { packageId: `basic${NUL}` } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "purchase with NUL in an ignored price field",
      send: () => purchase({ json: { packageId: "basic", price: NUL } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "reading a purchase whose id has NUL",
      send: () =>
        purchaseGet(
          appRequest(`/api/credits/purchases/${bobPurchase}%00`, { cookie: alice.cookie }),
          routeContext({ purchaseId: `${bobPurchase}${NUL}` }),
        ),
      status: 404,
      code: "not_found",
    },
    {
      name: "confirming a payment whose id has NUL",
      send: () =>
        confirmPost(
          appRequest(`/api/sandbox/payment-intents/${bobPaymentIntent}%00/confirm`, {
            cookie: bob.cookie,
            json: { cardNumber: "4242424242424242" },
          }),
          routeContext({ paymentIntentId: `${bobPaymentIntent}${NUL}` }),
        ),
      status: 404,
      code: "not_found",
    },
    {
      name: "confirm with NUL in the card number",
      send: () => confirm(bobPaymentIntent, { cookie: bob.cookie, json: { cardNumber: `4242${NUL}` } }),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "generating an image with NUL in the prompt",
      send: () =>
        generateImagePost(
          appRequest("/api/features/generate-image", {
            cookie: alice.cookie,
            json: { prompt: `a cat${NUL}`, requestId: "00000000-0000-4000-8000-000000000001" },
          }),
          noParams,
        ),
      status: 400,
      code: "invalid_input",
    },
    {
      name: "generating an image with an unpaired surrogate in the prompt",
      send: () =>
        generateImagePost(
          appRequest("/api/features/generate-image", {
            cookie: alice.cookie,
            body: `{"prompt":"a cat ${LONE_SURROGATE_JSON.slice(1, -1)}","requestId":"00000000-0000-4000-8000-000000000002"}`,
            contentType: "application/json",
          }),
          noParams,
        ),
      status: 400,
      code: "invalid_input",
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
        : (response as { status: number; body: { error?: { code?: string; retryable?: boolean } } });
    expect(status).toBe(testCase.status);
    expect(typeof body.error?.code).toBe("string");
    if (testCase.code) expect(body.error?.code).toBe(testCase.code);
    // A refusal that will recur is never marked retryable, or well-behaved clients retry forever.
    expect((body.error as { retryable?: boolean } | undefined)?.retryable ?? false).toBe(false);
  });

  it("refuses sign-up and sign-in with text PostgreSQL cannot store, with a 4xx and no account", async () => {
    const attempts = [
      {
        path: "/api/auth/sign-up/email",
        json: { email: "nul@example.test", password: "correct horse battery", name: `Eve${NUL}` },
      },
      {
        path: "/api/auth/sign-up/email",
        json: { email: `nul${NUL}@example.test`, password: "correct horse battery", name: "Eve" },
      },
      {
        path: "/api/auth/sign-up/email",
        json: { email: "nul2@example.test", password: "correct horse battery", name: "\ud800" },
      },
      {
        path: "/api/auth/sign-in/email",
        json: { email: `alice-${kind}@example.test${NUL}`, password: "correct horse battery" },
      },
    ];
    for (const attempt of [
      ...attempts,
      { path: "/api/auth/update-user", json: { name: `Alice${NUL}` }, cookie: alice.cookie },
      { path: "/api/auth/verify-email?token=%00" },
    ] as { path: string; json?: unknown; cookie?: string }[]) {
      const response = await authPost(
        appRequest(attempt.path, {
          ...(attempt.json === undefined ? {} : { json: attempt.json }),
          ...(attempt.cookie ? { cookie: attempt.cookie } : {}),
        }),
      );
      const body = (await response.json()) as {
        code?: string;
        error?: { code?: string; retryable?: boolean };
      };
      expect(response.status, attempt.path).toBe(400);
      expect(body.error?.code ?? body.code, attempt.path).toBeTypeOf("string");
      expect(body.error?.retryable ?? false).toBe(false);
    }
    const users = (await database.db.execute(
      sql`SELECT count(*)::int AS n FROM "user" WHERE email LIKE 'nul%'`,
    )) as unknown as {
      rows: { n: number }[];
    };
    expect(users.rows[0]?.n).toBe(0);
  });

  it("refuses the same text in the ledger's own operations and the operators' use cases", async () => {
    const admin = { userId: null, label: "ops@example.test" };
    const refusals: [string, () => Promise<unknown>][] = [
      [
        "a grant's description",
        () =>
          addCredits(database.db, {
            userId: alice.id,
            amount: 1,
            type: "grant",
            description: `x${NUL}`,
            idempotencyKey: "nul-1",
          }),
      ],
      [
        "a grant's metadata",
        () =>
          addCredits(database.db, {
            userId: alice.id,
            amount: 1,
            type: "grant",
            description: "x",
            idempotencyKey: "nul-2",
            metadata: { a: { b: [`x${NUL}`] } },
          }),
      ],
      [
        "a spend's metadata key",
        () =>
          consumeCredits(database.db, {
            userId: alice.id,
            amount: 1,
            description: "x",
            idempotencyKey: "nul-3",
            metadata: { [`k${NUL}`]: 1 },
          }),
      ],
      [
        "a spend's user id",
        () =>
          consumeCredits(database.db, {
            userId: `${alice.id}${NUL}`,
            amount: 1,
            description: "x",
            idempotencyKey: "nul-4",
          }),
      ],
      [
        "a hold's description",
        () =>
          createHold(database.db, {
            userId: alice.id,
            amount: 1,
            description: "\ud800",
            idempotencyKey: "nul-5",
          }),
      ],
      [
        "an admin adjustment's reason",
        () => adjustCredits(database.db, { userId: alice.id, delta: 5, reason: `bonus${NUL}` }, admin),
      ],
      [
        "an admin deduction's reason",
        () => adjustCredits(database.db, { userId: alice.id, delta: -5, reason: `fix${NUL}` }, admin),
      ],
      ["an API key's name", () => createApiKey(database.db, `billing${NUL}`, admin)],
      [
        "a refund's reason",
        () =>
          refundPurchase(
            database.db,
            getPaymentProvider(database.db),
            { purchaseId: bobPurchase, reason: `fraud${NUL}` },
            admin,
          ),
      ],
    ];
    for (const [what, attempt] of refusals) {
      const error = await attempt().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error, what).toBeDefined();
      expect(classifyError(error), what).toMatchObject({
        status: 400,
        code: "invalid_input",
        retryable: false,
      });
    }
  });

  it("answers the admin console's searches and paths with such text without asking the database", async () => {
    expect(await listUsers(database.db, { query: `alice${NUL}` })).toEqual({ users: [], nextBefore: null });
    expect(
      (await listUsers(database.db, { before: "-100000-01-01T00:00:00Z" })).users.length,
    ).toBeGreaterThan(0);
    await expect(getUserOverview(database.db, `${alice.id}${NUL}`)).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("classifies database errors by SQLSTATE: input the database refuses is a 400, never retryable", async () => {
    const failureOf = (query: ReturnType<typeof sql>) =>
      database.db.execute(query).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
    // The backstop for any path that misses validation: the database's own refusals.
    for (const query of [
      sql`SELECT ${`a${NUL}b`}::text`,
      sql`SELECT ${JSON.stringify({ a: NUL })}::jsonb`,
      sql`SELECT ${"not-a-uuid"}::uuid`,
      sql`SELECT ${"99999999999"}::int`,
      sql`SELECT ${"x".repeat(20)}::varchar(5)::char(3)::varchar(2)`,
    ]) {
      const error = await failureOf(query);
      if (!error) continue; // an implicit cast that truncates instead of failing is not a refusal
      expect(classifyError(error)).toMatchObject({ status: 400, code: "invalid_input", retryable: false });
    }
    // A failure nobody can fix by retrying (a bug, a broken invariant) is a 500 that says so.
    const raised = await failureOf(sql`DO $$ BEGIN RAISE EXCEPTION 'broken invariant'; END $$`);
    expect(classifyError(raised)).toMatchObject({ status: 500, code: "internal_error", retryable: false });
    const check = await failureOf(sql`UPDATE credit_account SET balance = -1 WHERE user_id = ${alice.id}`);
    expect(classifyError(check)).toMatchObject({ status: 500, code: "internal_error", retryable: false });
    expect(classifyError(new Error("unexpected"))).toMatchObject({ status: 500, retryable: false });
    // Waits a retry resolves stay retryable.
    expect(classifyError(Object.assign(new Error("lock"), { code: "55P03" }))).toMatchObject({
      status: 503,
      retryable: true,
    });
    expect(classifyError(Object.assign(new Error("gone"), { code: "57P01" }))).toMatchObject({
      status: 503,
      retryable: true,
    });
    expect(classifyError(Object.assign(new Error("full"), { code: "53300" }))).toMatchObject({
      status: 503,
      retryable: true,
    });
  });

  it("leaves the ledger, purchases, events and idempotency records exactly as they were", async () => {
    expect(await snapshot(database.db)).toEqual(before);
    expect((await verifyLedger(database.db)).violations).toEqual([]);
  });

  it("answers the service API's bad requests only with statuses its OpenAPI document lists", async () => {
    const document = await (
      await openApiGet(new Request("http://localhost:3000/api/v1/openapi.json"))
    ).json();
    expect(undocumentedAnswers(document, observedAnswers)).toEqual([]);
    expect(observedAnswers.length).toBeGreaterThan(10);
  });
});

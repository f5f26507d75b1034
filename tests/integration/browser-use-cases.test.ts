import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createCreditPaymentIntent, getCreditsAction } from "../../src/actions/credits";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { useDatabaseConnection } from "../../src/db/client";
import { COST_CATALOG } from "../../src/features/cost-catalog";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { balanceGet, generateImagePost, purchasesPost } from "../support/route-handlers";
import { entriesOf, purchaseRow, purchasesOf } from "../support/rows";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Server actions read the request's headers through next/headers; outside Next.js the test supplies them.
// Everything behind it (the session lookup, the use case, the database) is the app's own code.
const request = vi.hoisted(() => ({ headers: new Headers() }));
vi.mock("next/headers", () => ({ headers: async () => request.headers }));

// Sandbox mode, and a purchase limit small enough to reach in a test.
const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "3" });
afterAll(() => serverEnv.cleanup());

type ErrorAnswer = { code: string; message: string; retryable: boolean };

/** POST /api/credits/purchases, as the app's pages call it. */
async function buyThroughRoute(user: SignedUpUser | undefined, json: unknown) {
  const { status, body } = await readJson<Record<string, unknown> & { error?: ErrorAnswer }>(
    await purchasesPost(
      appRequest("/api/credits/purchases", { cookie: user?.cookie, json }),
      routeContext({}),
    ),
  );
  // The route leaves `retryable` out when it is false; the action always says it.
  const error = body.error ? { ...body.error, retryable: body.error.retryable ?? false } : undefined;
  return { status, body, error };
}

/** The server action createCreditPaymentIntent, as a developer's code calls it. */
async function buyThroughAction(user: SignedUpUser | undefined, input: { packageId: string }) {
  request.headers = new Headers(user ? { cookie: user.cookie } : {});
  return createCreditPaymentIntent(input);
}

describe.each(databaseKinds())(
  "one use case behind each browser route and its server action (%s)",
  (kind) => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createTestDatabase(kind);
      useDatabaseConnection(database);
      resetAuth();
    });
    afterEach(async () => {
      if (database) await assertLedgerInvariants(database.db);
    });
    afterAll(async () => {
      await database?.close();
    });

    const newUser = () => signUp(`adapters-${randomUUID()}@example.test`);

    it("starts the same purchase through the route and the action, each answering the same fields", async () => {
      const buyer = await newUser();

      const viaRoute = await buyThroughRoute(buyer, { packageId: "standard" });
      const viaAction = await buyThroughAction(buyer, { packageId: "standard" });

      expect(viaRoute.status).toBe(201);
      const expected = {
        purchaseId: expect.any(String),
        paymentIntentId: expect.stringMatching(/^pi_/),
        clientSecret: expect.stringContaining("_secret_"),
        provider: "sandbox",
        publishableKey: null,
      };
      expect(viaRoute.body).toEqual(expected);
      expect(viaAction).toEqual({ data: expected });
      for (const purchaseId of [viaRoute.body.purchaseId, viaAction.data?.purchaseId]) {
        expect(await purchaseRow(database.db, String(purchaseId))).toMatchObject({
          userId: buyer.id,
          packageId: "standard",
          amount: 3999,
          credits: 500,
          status: "pending",
        });
      }
    });

    it("refuses an unknown package and a signed-out caller with the same code and message through both", async () => {
      const buyer = await newUser();

      const unknownRoute = await buyThroughRoute(buyer, { packageId: "gold" });
      const unknownAction = await buyThroughAction(buyer, { packageId: "gold" });
      expect(unknownRoute.status).toBe(400);
      expect(unknownRoute.error).toEqual({
        code: "package_unavailable",
        message: "This credit package does not exist or is not on sale.",
        retryable: false,
      });
      expect(unknownAction.serverError).toEqual(unknownRoute.error);

      const signedOutRoute = await buyThroughRoute(undefined, { packageId: "basic" });
      const signedOutAction = await buyThroughAction(undefined, { packageId: "basic" });
      expect(signedOutRoute.status).toBe(401);
      expect(signedOutRoute.error).toMatchObject({ code: "unauthorized" });
      expect(signedOutAction.serverError).toEqual(signedOutRoute.error);

      expect(await purchasesOf(database.db, buyer.id)).toEqual([]);
    });

    it("counts purchases through both against one per-user limit, and refuses the next the same way", async () => {
      const buyer = await newUser();
      expect((await buyThroughAction(buyer, { packageId: "basic" })).data).toBeDefined();
      expect((await buyThroughRoute(buyer, { packageId: "basic" })).status).toBe(201);
      expect((await buyThroughAction(buyer, { packageId: "basic" })).data).toBeDefined();

      const limitedRoute = await buyThroughRoute(buyer, { packageId: "basic" });
      const limitedAction = await buyThroughAction(buyer, { packageId: "basic" });

      expect(limitedRoute.status).toBe(429);
      const refusal = {
        code: "rate_limited",
        message: expect.stringMatching(/^Too many requests\./),
        retryable: true,
      };
      expect(limitedRoute.error).toEqual(refusal);
      expect(limitedAction).toEqual({ serverError: refusal });
      expect(await purchasesOf(database.db, buyer.id)).toHaveLength(3);
      // Another customer has a limit of their own.
      expect((await buyThroughAction(await newUser(), { packageId: "basic" })).data).toBeDefined();
    });

    it("reads the same balance through getCreditsAction and GET /api/credits/balance", async () => {
      const holder = await newUser();
      await addCredits(database.db, {
        userId: holder.id,
        amount: 42,
        type: "grant",
        description: "seed",
        idempotencyKey: `seed-${holder.id}`,
      });

      const viaRoute = await readJson(
        await balanceGet(appRequest("/api/credits/balance", { cookie: holder.cookie }), routeContext({})),
      );
      request.headers = new Headers({ cookie: holder.cookie });
      const viaAction = await getCreditsAction();

      expect(viaRoute).toEqual({ status: 200, body: { balance: 42, held: 0, available: 42, debt: 0 } });
      expect(viaAction).toEqual({ data: viaRoute.body });
    });

    it("answers a generated image with its charge, and a shortfall with 402 and what it would cost", async () => {
      const cost = COST_CATALOG["image.generate"].credits;
      const user = await newUser();
      const generate = async (prompt: string) =>
        readJson<Record<string, unknown>>(
          await generateImagePost(
            appRequest("/api/features/generate-image", {
              cookie: user.cookie,
              json: { prompt, requestId: randomUUID() },
            }),
            routeContext({}),
          ),
        );

      expect(await generate("a red fox")).toEqual({
        status: 402,
        body: {
          error: { code: "insufficient_credits", message: "Not enough credits.", cost, available: 0 },
        },
      });
      expect(await entriesOf(database.db, user.id)).toEqual([]);

      await addCredits(database.db, {
        userId: user.id,
        amount: cost + 1,
        type: "grant",
        description: "seed",
        idempotencyKey: `seed-${user.id}`,
      });
      const drawn = await generate("a red fox");
      expect(drawn).toEqual({
        status: 200,
        body: { svg: expect.stringMatching(/^<svg /), cost, balance: 1 },
      });
      expect(await generate("a blue fox")).toMatchObject({
        status: 402,
        body: { error: { code: "insufficient_credits", cost, available: 1 } },
      });
    });
  },
);

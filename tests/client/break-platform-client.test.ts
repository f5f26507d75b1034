import { randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CreditkitClient,
  CreditkitError,
  createCreditkitClient,
  verifyWebhook,
} from "../../clients/typescript/src/index";
import { createApiKey } from "../../src/service-api/api-keys";
import { type ApiServer, serveApi } from "../support/api-server";
import { useAppDatabase } from "../support/app-database";
import { configureServerEnv } from "../support/server-env";
import { databaseKinds } from "../support/test-database";

// Hostile and careless use of the typed client: its retries against the real service API, and its
// webhook verifier given tampered and stale events.
const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const OPERATOR = { userId: null, label: "break client" };

describe.each(databaseKinds())("typed client attacks on %s", (kind) => {
  const database = useAppDatabase(kind);
  let server: ApiServer;
  let credits: CreditkitClient;
  let key: string;
  beforeAll(async () => {
    server = await serveApi();
    key = (await createApiKey(database.db, "break-client", OPERATOR)).key;
    credits = createCreditkitClient({ baseUrl: server.origin, apiKey: key });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("a mutation retried while its first attempt is still running is applied once", async () => {
    const id = `retry-${randomUUID()}`;
    await credits.customers.upsert(id, {});
    await credits.customers.grant(id, { amount: 100 });
    // The same call sent again and again at once, as a client whose attempts time out would.
    const idempotencyKey = randomUUID();
    const answers = await Promise.allSettled(
      Array.from({ length: 10 }, () => credits.customers.consume(id, { amount: 7 }, { idempotencyKey })),
    );
    const balance = await credits.customers.getBalance(id);
    expect(balance.balance).toBe(93);
    for (const answer of answers) {
      if (answer.status === "fulfilled") expect(answer.value.balance).toBe(93);
      else expect((answer.reason as CreditkitError).status).not.toBe(500);
    }
  });

  it("a client whose attempts time out retries with the same key and the spend counts once", async () => {
    const id = `slow-${randomUUID()}`;
    await credits.customers.upsert(id, {});
    await credits.customers.grant(id, { amount: 50 });
    // A fetch that lets the server apply the first attempt but loses its answer (a timeout after commit).
    let calls = 0;
    const lossy = createCreditkitClient({
      baseUrl: server.origin,
      apiKey: key,
      fetch: async (input, init) => {
        calls++;
        const response = await fetch(input, init);
        if (calls === 1) throw new TypeError("fetch failed: socket hang up");
        return response;
      },
    });
    const answer = await lossy.customers.consume(id, { amount: 5 });
    expect(answer.balance).toBe(45);
    expect((await credits.customers.getBalance(id)).balance).toBe(45);
  });

  it("the same idempotency key with another amount is a typed 409, not a second spend", async () => {
    const id = `conflict-${randomUUID()}`;
    await credits.customers.upsert(id, {});
    await credits.customers.grant(id, { amount: 20 });
    await credits.customers.consume(id, { amount: 2 }, { idempotencyKey: "job-1" });
    const error = await credits.customers
      .consume(id, { amount: 3 }, { idempotencyKey: "job-1" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(CreditkitError);
    expect((error as CreditkitError).status).toBe(409);
    expect((await credits.customers.getBalance(id)).balance).toBe(18);
  });

  // Rule: the client names the customer twin of every user-scoped route, the low-balance threshold included.
  it("sets a customer's low-balance threshold by external id", async () => {
    const id = `thr-${randomUUID()}`;
    const customer = await credits.customers.upsert(id, {});
    await credits.customers.grant(id, { amount: 12 });
    const saved = await credits.customers.setLowBalanceThreshold(id, { threshold: 10 });
    expect(saved).toMatchObject({ userId: customer.userId, threshold: 10, available: 12 });
    const off = await credits.customers.setLowBalanceThreshold(id, { threshold: null });
    expect(off.threshold).toBeNull();
    const missing = await credits.customers
      .setLowBalanceThreshold(`nobody-${randomUUID()}`, { threshold: 1 })
      .catch((e) => e);
    expect((missing as CreditkitError).status).toBe(404);
  });

  it("an external id the API refuses never reaches another route through the path", async () => {
    const victim = `victim-${randomUUID()}`;
    await credits.customers.upsert(victim, {});
    await credits.customers.grant(victim, { amount: 30 });
    for (const hostile of [
      `../${victim}`,
      `x/../../customers/${victim}`,
      `${victim}/`,
      `${victim}?a=1`,
      `${victim}#x`,
    ]) {
      const error = await credits.customers.consume(hostile, { amount: 1 }).catch((e) => e);
      expect(error, hostile).toBeInstanceOf(CreditkitError);
    }
    expect((await credits.customers.getBalance(victim)).balance).toBe(30);
  });
});

describe("verifyWebhook given tampered and stale events", () => {
  const secret = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
  const event = {
    id: "evt_1",
    type: "credits.consumed",
    createdAt: new Date().toISOString(),
    account: { userId: "cus_1", externalId: "acme" },
    data: { amount: 5 },
  };
  const body = JSON.stringify(event);
  const signAt = (seconds: number, payload = body, id = "evt_1") => ({
    "webhook-id": id,
    "webhook-timestamp": String(seconds),
    "webhook-signature": new Webhook(secret).sign(id, new Date(seconds * 1000), payload),
  });
  const now = () => Math.floor(Date.now() / 1000);

  it("accepts a fresh, untouched event", () => {
    expect(verifyWebhook(body, signAt(now()), secret).id).toBe("evt_1");
    expect(verifyWebhook(Buffer.from(body), new Headers(signAt(now())), secret).id).toBe("evt_1");
  });

  it("refuses a tampered body, a swapped id, an old or future timestamp, another secret", () => {
    const fresh = signAt(now());
    expect(() => verifyWebhook(body.replace('"amount":5', '"amount":500'), fresh, secret)).toThrow();
    expect(() => verifyWebhook(body, { ...fresh, "webhook-id": "evt_2" }, secret)).toThrow();
    expect(() => verifyWebhook(body, signAt(now() - 6 * 60), secret)).toThrow();
    expect(() => verifyWebhook(body, signAt(now() + 6 * 60), secret)).toThrow();
    expect(() => verifyWebhook(body, { ...fresh, "webhook-timestamp": String(now() - 1) }, secret)).toThrow();
    const other = `whsec_${Buffer.from("x".repeat(32)).toString("base64")}`;
    expect(() => verifyWebhook(body, fresh, other)).toThrow();
    expect(() => verifyWebhook(body, { ...fresh, "webhook-signature": "" }, secret)).toThrow();
    expect(() => verifyWebhook(body, {}, secret)).toThrow();
  });

  it("refuses a validly signed payload that is not a creditkit event", () => {
    const notEvent = JSON.stringify({ hello: "world" });
    expect(() => verifyWebhook(notEvent, signAt(now(), notEvent), secret)).toThrow();
    expect(() => verifyWebhook("null", signAt(now(), "null"), secret)).toThrow();
  });
});

import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { upsertCustomer } from "../../src/credits/upsert-customer";
import {
  auditLog,
  creditAccount,
  outboundEvent,
  webhookDelivery,
  webhookDeliveryAttempt,
} from "../../src/db/schema";
import { runSweep } from "../../src/jobs/run-sweep";
import { deleteWebhookEndpoint } from "../../src/outbound/delete-webhook-endpoint";
import { runWebhookDelivery } from "../../src/outbound/deliver-webhooks";
import { createApiKey, revokeApiKey } from "../../src/service-api/api-keys";
import type { ApiScope } from "../../src/service-api/api-scopes";
import { type ApiServer, serveApi } from "../support/api-server";
import { useAppDatabase } from "../support/app-database";
import { seedUser } from "../support/seed";
import { databaseKinds } from "../support/test-database";
import { startWebhookReceiver, verifyWebhook } from "../support/webhook-receiver";

const OPERATOR = { userId: null, label: "break-platform" };

/** Hostile and careless use of the platform features over real HTTP (the app's /api dispatch). */
describe.each(databaseKinds())("platform attacks on %s", (kind) => {
  const database = useAppDatabase(kind);
  let server: ApiServer;
  beforeAll(async () => {
    server = await serveApi();
  });
  afterAll(async () => {
    await server?.close();
  });

  const keyWith = async (scopes: readonly ApiScope[] = ["read", "spend", "grant", "holds", "admin"]) =>
    (await createApiKey(database.db, `k-${randomUUID().slice(0, 8)}`, OPERATOR, scopes)).key;

  async function call(
    method: string,
    path: string,
    key: string,
    json?: unknown,
    idempotencyKey: string | null = randomUUID(),
  ) {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (method === "POST" && idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    if (json !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${server.origin}${path}`, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      redirect: "manual",
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { raw: text };
    }
    return { status: response.status, body };
  }

  const enc = (id: string) => encodeURIComponent(id);

  // ---------- external ids ----------

  it("255-character external id works, 256 is refused with 400", async () => {
    const key = await keyWith();
    const ok = "a".repeat(255);
    expect((await call("PUT", `/api/v1/customers/${ok}`, key, {})).status).toBe(201);
    expect((await call("GET", `/api/v1/customers/${ok}`, key)).status).toBe(200);
    const tooLong = await call("PUT", `/api/v1/customers/${"a".repeat(256)}`, key, {});
    expect(tooLong.status).toBe(400);
    expect((tooLong.body.error as { code: string }).code).toBe("invalid_input");
  });

  it("unicode, spaces, slashes and percent-encoded junk are refused with 400, never stored", async () => {
    const key = await keyWith();
    for (const bad of ["café", "a b", "a%2Fb", "a%00b", "%F0%9F%98%80", "a+b", "a,b", "a%252Fb"]) {
      const put = await call("PUT", `/api/v1/customers/${bad}`, key, {});
      expect([400, 404], bad).toContain(put.status);
      if (put.status === 400) expect((put.body.error as { code: string }).code).toBe("invalid_input");
    }
    const rows = await database.db.select().from(creditAccount);
    for (const row of rows) {
      if (row.externalId) expect(row.externalId).toMatch(/^[A-Za-z0-9_\-.:@|]{1,255}$/);
    }
  });

  it("percent-encoded and plain spellings of the same id reach the same customer", async () => {
    const key = await keyWith();
    const id = `acme:${randomUUID()}@x|y`;
    const created = await call("PUT", `/api/v1/customers/${id}`, key, { name: "A" });
    expect(created.status).toBe(201);
    const again = await call("PUT", `/api/v1/customers/${enc(id)}`, key, { name: "B" });
    expect(again.status).toBe(200);
    expect(again.body.userId).toBe(created.body.userId);
    const upper = await call("PUT", `/api/v1/customers/${id.toUpperCase()}`, key, {});
    expect(upper.status).toBe(201);
    expect(upper.body.userId).not.toBe(created.body.userId);
  });

  // Rule: an external id of dots alone is refused with 400 naming the rule (src/credits/external-id.ts): URL
  // clients fold "/customers/." and "/customers/%2E%2E" into other paths (WHATWG dot segments), so such a
  // customer could never be reached. "..." is not folded and reaches the rule itself; "." and ".." never
  // arrive as an id (the request lands on another path), and nothing is created either way.
  it("an external id made only of dots is refused with 400 naming the rule, wherever it comes from", async () => {
    const key = await keyWith();
    for (const id of [".", "..", "...", "...."]) {
      await expect(upsertCustomer(database.db, id, {}), id).rejects.toMatchObject({
        code: "invalid_input",
        message: expect.stringContaining("not dots alone"),
      });
    }
    const dots = await call("PUT", `/api/v1/customers/${enc("...")}`, key, {});
    expect(dots.status).toBe(400);
    expect((dots.body.error as { message: string }).message).toContain("not dots alone");
    for (const id of [".", ".."]) {
      const put = await call("PUT", `/api/v1/customers/${enc(id)}`, key, {});
      expect(put.status, id).not.toBe(201);
    }
    const rows = await database.db.select().from(creditAccount);
    expect(rows.filter((row) => row.externalId && /^\.+$/.test(row.externalId))).toEqual([]);
  });

  it("an external id that equals a signed-up user's id or a cus_ account id is a separate customer", async () => {
    const key = await keyWith();
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 70,
      type: "grant",
      description: "user's",
      idempotencyKey: "seed-u",
    });
    const asUser = await call("PUT", `/api/v1/customers/${userId}`, key, {});
    expect(asUser.status).toBe(201);
    expect(asUser.body.userId).not.toBe(userId);
    const bal = await call("GET", `/api/v1/customers/${userId}/balance`, key);
    expect(bal.body.balance).toBe(0);
    // A customer whose external id is another customer's account id.
    const other = await call("PUT", `/api/v1/customers/victim-${randomUUID()}`, key, {});
    const victimAccount = String(other.body.userId);
    await call("POST", `/api/v1/customers/${enc(String(other.body.externalId))}/grants`, key, { amount: 9 });
    const shadow = await call("PUT", `/api/v1/customers/${victimAccount}`, key, {});
    expect(shadow.status).toBe(201);
    expect(shadow.body.userId).not.toBe(victimAccount);
    expect((await call("GET", `/api/v1/customers/${victimAccount}/balance`, key)).body.balance).toBe(0);
    expect((await call("GET", `/api/v1/users/${victimAccount}/balance`, key)).body.balance).toBe(9);
  });

  it("a made-up cus_ account id on a user route opens no ledger (404, nothing created)", async () => {
    const key = await keyWith();
    const fake = `cus_${randomUUID().replaceAll("-", "")}`;
    const grant = await call("POST", `/api/v1/users/${fake}/grants`, key, { amount: 5 });
    expect(grant.status).toBe(404);
    const consume = await call("POST", `/api/v1/users/${fake}/consume`, key, { amount: 1 });
    expect(consume.status).toBe(404);
    const hold = await call("POST", `/api/v1/users/${fake}/holds`, key, { amount: 1 });
    expect(hold.status).toBe(404);
    const balance = await call("GET", `/api/v1/users/${fake}/balance`, key);
    expect(balance.status).toBe(404);
    const rows = await database.db.select().from(creditAccount).where(eq(creditAccount.userId, fake));
    expect(rows).toHaveLength(0);
  });

  it("concurrent identical PUTs make one account: one 201, the rest 200", async () => {
    const key = await keyWith();
    const id = `race-${randomUUID()}`;
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => call("PUT", `/api/v1/customers/${id}`, key, { email: "r@x.test" })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(11);
    expect(new Set(answers.map((a) => a.body.userId)).size).toBe(1);
    const rows = await database.db.select().from(creditAccount).where(eq(creditAccount.externalId, id));
    expect(rows).toHaveLength(1);
  });

  it("concurrent PUTs with different fields leave one account with one of the bodies whole", async () => {
    const key = await keyWith();
    const id = `race2-${randomUUID()}`;
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call("PUT", `/api/v1/customers/${id}`, key, { email: `p${i}@x.test`, name: `P${i}` }),
      ),
    );
    expect(answers.every((a) => a.status === 200 || a.status === 201)).toBe(true);
    const final = await call("GET", `/api/v1/customers/${id}`, key);
    const i = String(final.body.name).slice(1);
    expect(final.body.email).toBe(`p${i}@x.test`);
  });

  it("every customer route answers an unknown id with 404 customer_not_found, creating nothing", async () => {
    const key = await keyWith();
    const id = `ghost-${randomUUID()}`;
    for (const [method, suffix, body] of [
      ["GET", "", undefined],
      ["GET", "/balance", undefined],
      ["GET", "/transactions", undefined],
      ["POST", "/consume", { amount: 1 }],
      ["POST", "/grants", { amount: 1 }],
      ["POST", "/holds", { amount: 1 }],
    ] as const) {
      const answer = await call(method, `/api/v1/customers/${id}${suffix}`, key, body);
      expect(answer.status, suffix).toBe(404);
      expect((answer.body.error as { code: string }).code, suffix).toBe("customer_not_found");
    }
    expect(
      await database.db.select().from(creditAccount).where(eq(creditAccount.externalId, id)),
    ).toHaveLength(0);
  });

  // ---------- scopes ----------

  it("a key outside its scope gets 403 naming the scope on every customer and endpoint route", async () => {
    const admin = await keyWith();
    const id = `scoped-${randomUUID()}`;
    await call("PUT", `/api/v1/customers/${id}`, admin, {});
    const readOnly = await keyWith(["read"]);
    for (const [method, path, body, scope] of [
      ["PUT", `/api/v1/customers/${id}`, { name: "x" }, "admin"],
      ["POST", `/api/v1/customers/${id}/grants`, { amount: 1 }, "grant"],
      ["POST", `/api/v1/customers/${id}/consume`, { amount: 1 }, "spend"],
      ["POST", `/api/v1/customers/${id}/holds`, { amount: 1 }, "holds"],
      [
        "POST",
        "/api/v1/webhook-endpoints",
        { url: "https://e.test/h", eventTypes: ["credits.granted"] },
        "admin",
      ],
      ["GET", "/api/v1/webhook-endpoints", undefined, "admin"],
      ["PUT", `/api/v1/users/${randomUUID()}/low-balance-threshold`, { threshold: 5 }, "admin"],
    ] as const) {
      const answer = await call(method, path, readOnly, body);
      expect(answer.status, path).toBe(403);
      expect((answer.body.error as { requiredScope: string }).requiredScope, path).toBe(scope);
    }
    const spendOnly = await keyWith(["spend"]);
    expect((await call("GET", `/api/v1/customers/${id}`, spendOnly)).status).toBe(403);
    // Unknown customers are not revealed to a key without the scope.
    expect((await call("GET", `/api/v1/customers/nobody-${randomUUID()}`, spendOnly)).status).toBe(403);
  });

  it("a revoked key stops at once, even for a replay of its own idempotent request", async () => {
    const created = await createApiKey(database.db, `rev-${randomUUID().slice(0, 6)}`, OPERATOR);
    const id = `rev-${randomUUID()}`;
    await call("PUT", `/api/v1/customers/${id}`, created.key, {});
    const idem = randomUUID();
    expect(
      (await call("POST", `/api/v1/customers/${id}/grants`, created.key, { amount: 3 }, idem)).status,
    ).toBe(201);
    await revokeApiKey(database.db, created.apiKey.id, OPERATOR);
    expect(
      (await call("POST", `/api/v1/customers/${id}/grants`, created.key, { amount: 3 }, idem)).status,
    ).toBe(401);
    expect((await call("GET", `/api/v1/customers/${id}`, created.key)).status).toBe(401);
  });

  // Rule: every user-scoped route has its customer twin under /customers/{externalId}/ (customerRoute),
  // the low-balance threshold included.
  it("the low-balance threshold can be set by external id like every other user-scoped route", async () => {
    const key = await keyWith();
    const id = `thr-${randomUUID()}`;
    const customer = await call("PUT", `/api/v1/customers/${id}`, key, {});
    const byAccount = await call("PUT", `/api/v1/users/${customer.body.userId}/low-balance-threshold`, key, {
      threshold: 10,
    });
    expect(byAccount.status).toBe(200);
    const byExternalId = await call("PUT", `/api/v1/customers/${id}/low-balance-threshold`, key, {
      threshold: 10,
    });
    expect(byExternalId.status).toBe(200);
  });

  it("a careless PUT with no body at all creates the customer like an empty object", async () => {
    const key = await keyWith();
    const id = `nobody-${randomUUID()}`;
    const response = await fetch(`${server.origin}/api/v1/customers/${id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${key}` },
    });
    expect([201, 400, 415]).toContain(response.status);
    expect(response.status).not.toBe(500);
  });

  it("bad customer bodies are 400 and leave the customer unchanged", async () => {
    const key = await keyWith();
    const id = `body-${randomUUID()}`;
    await call("PUT", `/api/v1/customers/${id}`, key, { email: "a@b.test", name: "N", metadata: { k: 1 } });
    for (const body of [
      { email: "not-an-email" },
      { name: "" },
      { name: "x".repeat(201) },
      { metadata: { nested: { a: 1 } } },
      { metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i])) },
      { metadata: { ["k".repeat(65)]: 1 } },
      { email: `${"a".repeat(250)}@b.test` },
      { name: "a\u0000b" },
      { unknown: 1 },
      [],
      "x",
    ]) {
      const answer = await call("PUT", `/api/v1/customers/${id}`, key, body);
      expect(answer.status, JSON.stringify(body).slice(0, 60)).toBe(400);
    }
    const after = await call("GET", `/api/v1/customers/${id}`, key);
    expect(after.body).toMatchObject({ email: "a@b.test", name: "N", metadata: { k: 1 } });
    // null clears, omitted keeps.
    const cleared = await call("PUT", `/api/v1/customers/${id}`, key, { email: null });
    expect(cleared.body).toMatchObject({ email: null, name: "N" });
  });

  // Rule: an unknown or malformed endpoint or delivery id is 404 on every endpoint-management route.
  it("unknown and garbage ids on the endpoint-management routes are 404", async () => {
    const key = await keyWith();
    for (const [method, path] of [
      ["GET", "/api/v1/webhook-endpoints/not-a-uuid/deliveries"],
      ["GET", `/api/v1/webhook-endpoints/${randomUUID()}/deliveries`],
      ["DELETE", "/api/v1/webhook-endpoints/not-a-uuid"],
      ["DELETE", `/api/v1/webhook-endpoints/${randomUUID()}`],
      ["POST", `/api/v1/webhook-deliveries/${randomUUID()}/resend`],
    ] as const) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${key}`,
        "idempotency-key": randomUUID(),
      };
      const response = await fetch(`${server.origin}${path}`, { method, headers });
      expect(response.status, `${method} ${path}`).toBe(404);
    }
  });

  it("endpoint URLs that are not absolute http(s) are refused", async () => {
    const key = await keyWith();
    for (const url of [
      "ftp://e.test/h",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "/relative",
      "http://",
      "e.test/h",
    ]) {
      const answer = await call("POST", "/api/v1/webhook-endpoints", key, {
        url,
        eventTypes: ["credits.granted"],
      });
      expect(answer.status, url).toBe(400);
    }
    for (const eventTypes of [[], ["credits.nope"], "credits.granted"]) {
      const answer = await call("POST", "/api/v1/webhook-endpoints", key, {
        url: "https://e.test/h",
        eventTypes,
      });
      expect(answer.status, JSON.stringify(eventTypes)).toBe(400);
    }
  });

  it("a customer's events name its external id and cus_ account id", async () => {
    const key = await keyWith();
    const receiver = await startWebhookReceiver();
    try {
      const endpoint = await endpointFor(key, receiver.url, ["credits.granted", "credits.consumed"]);
      const id = `ev-${randomUUID()}`;
      const customer = await call("PUT", `/api/v1/customers/${id}`, key, {});
      await call("POST", `/api/v1/customers/${id}/grants`, key, { amount: 5 });
      await call("POST", `/api/v1/customers/${id}/consume`, key, { amount: 2 });
      await runWebhookDelivery(database.db, { timeoutMs: 5000 });
      const mine = receiver.accepted().filter((r) => r.body.includes(id));
      expect(mine).toHaveLength(2);
      for (const r of mine) {
        const event = verifyWebhook(endpoint.secret, r) as unknown as {
          account: { userId: string; externalId: string };
        };
        expect(event.account).toEqual({ userId: customer.body.userId, externalId: id });
      }
    } finally {
      await receiver.close();
    }
  });

  it("one Idempotency-Key reused for another customer, another route or the account's other path never doubles or leaks", async () => {
    const key = await keyWith();
    const a = `idem-a-${randomUUID()}`;
    const b = `idem-b-${randomUUID()}`;
    const ca = await call("PUT", `/api/v1/customers/${a}`, key, {});
    await call("PUT", `/api/v1/customers/${b}`, key, {});
    await call("POST", `/api/v1/customers/${a}/grants`, key, { amount: 50 });
    await call("POST", `/api/v1/customers/${b}/grants`, key, { amount: 40 });
    const shared = `shared-${randomUUID()}`;
    const first = await call("POST", `/api/v1/customers/${a}/consume`, key, { amount: 5 }, shared);
    expect(first.body.balance).toBe(45);
    // The same key for another customer: applied to b, or refused; never a's answer replayed.
    const other = await call("POST", `/api/v1/customers/${b}/consume`, key, { amount: 5 }, shared);
    if (other.status === 200) expect(other.body.balance).toBe(35);
    else expect(other.status).toBe(409);
    // The same spend through the account's cus_ path: replayed or refused, never applied twice.
    const viaUser = await call("POST", `/api/v1/users/${ca.body.userId}/consume`, key, { amount: 5 }, shared);
    expect([200, 409]).toContain(viaUser.status);
    expect((await call("GET", `/api/v1/customers/${a}/balance`, key)).body.balance).toBe(45);
    // The same key on another route of the same customer.
    const grant = await call("POST", `/api/v1/customers/${a}/grants`, key, { amount: 5 }, shared);
    expect([201, 409]).toContain(grant.status);
    if (grant.status === 201) expect(grant.body.balance).toBe(50);
  });

  it("customer and endpoint management through a key is in the audit log under the key's name", async () => {
    const created = await createApiKey(database.db, `audited-${randomUUID().slice(0, 6)}`, OPERATOR);
    const id = `aud-${randomUUID()}`;
    const customer = await call("PUT", `/api/v1/customers/${id}`, created.key, { name: "A" });
    await call("PUT", `/api/v1/customers/${id}`, created.key, { name: "B" });
    const endpoint = await call("POST", "/api/v1/webhook-endpoints", created.key, {
      url: "https://e.test/audit",
      eventTypes: ["credits.granted"],
    });
    await fetch(`${server.origin}/api/v1/webhook-endpoints/${endpoint.body.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${created.key}`, "idempotency-key": randomUUID() },
    });
    const rows = await database.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.actorLabel, `api-key:${created.apiKey.name}`));
    const actions = rows.map((r) => r.action).sort();
    expect(actions).toEqual(expect.arrayContaining(["customer.create", "customer.update"]));
    expect(actions.length).toBeGreaterThanOrEqual(4);
    expect(rows.find((r) => r.action === "customer.create")?.targetUserId).toBe(customer.body.userId);
  });

  it("balance events follow the available balance through holds: depleted by a hold, recovered by its release", async () => {
    const key = await keyWith();
    const receiver = await startWebhookReceiver();
    try {
      await endpointFor(key, receiver.url, ["balance.low", "balance.depleted", "balance.recovered"]);
      const id = `bal-${randomUUID()}`;
      const customer = await call("PUT", `/api/v1/customers/${id}`, key, {});
      const accountId = String(customer.body.userId);
      await call("PUT", `/api/v1/users/${accountId}/low-balance-threshold`, key, { threshold: 5 });
      await call("POST", `/api/v1/customers/${id}/grants`, key, { amount: 10 });
      const hold = await call("POST", `/api/v1/customers/${id}/holds`, key, { amount: 10 });
      expect(hold.status).toBe(201);
      expect((await call("GET", `/api/v1/customers/${id}/balance`, key)).body.available).toBe(0);
      await call("POST", `/api/v1/holds/${hold.body.holdId}/release`, key);
      expect((await call("GET", `/api/v1/customers/${id}/balance`, key)).body.available).toBe(10);
      const types = (
        await database.db.select().from(outboundEvent).where(eq(outboundEvent.userId, accountId))
      )
        .sort((x, y) => x.seq - y.seq)
        .map((e) => e.type);
      // (The first grant lifts the new account from 0: a recovered event of its own.)
      expect(types.slice(-3)).toEqual(["balance.low", "balance.depleted", "balance.recovered"]);
    } finally {
      await receiver.close();
    }
  });

  it("concurrent spends through zero report balance.low and balance.depleted once each", async () => {
    const key = await keyWith();
    const receiver = await startWebhookReceiver();
    try {
      await endpointFor(key, receiver.url, ["balance.low", "balance.depleted", "credits.consumed"]);
      const id = `conc-${randomUUID()}`;
      const customer = await call("PUT", `/api/v1/customers/${id}`, key, {});
      const accountId = String(customer.body.userId);
      await call("PUT", `/api/v1/users/${accountId}/low-balance-threshold`, key, { threshold: 5 });
      await call("POST", `/api/v1/customers/${id}/grants`, key, { amount: 10 });
      await Promise.all(
        Array.from({ length: 12 }, () => call("POST", `/api/v1/customers/${id}/consume`, key, { amount: 1 })),
      );
      const events = await database.db
        .select()
        .from(outboundEvent)
        .where(eq(outboundEvent.userId, accountId));
      expect(events.filter((e) => e.type === "credits.consumed")).toHaveLength(10);
      expect(events.filter((e) => e.type === "balance.low")).toHaveLength(1);
      expect(events.filter((e) => e.type === "balance.depleted")).toHaveLength(1);
      // In seq order the balances after each spend only fall.
      const after = events
        .filter((e) => e.type === "credits.consumed")
        .sort((x, y) => x.seq - y.seq)
        .map((e) => (e.payload as { data: { balanceAfter: number } }).data.balanceAfter);
      expect(after).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    } finally {
      await receiver.close();
    }
  });

  it("a cursor from one customer's history shows nothing of it on another's", async () => {
    const key = await keyWith();
    const a = `cur-a-${randomUUID()}`;
    const b = `cur-b-${randomUUID()}`;
    await call("PUT", `/api/v1/customers/${a}`, key, {});
    await call("PUT", `/api/v1/customers/${b}`, key, {});
    for (let i = 0; i < 3; i++) await call("POST", `/api/v1/customers/${a}/grants`, key, { amount: 1 + i });
    await call("POST", `/api/v1/customers/${b}/grants`, key, { amount: 99 });
    const page = await call("GET", `/api/v1/customers/${a}/transactions?limit=1`, key);
    const cursor = String(page.body.nextCursor);
    const onB = await call(
      "GET",
      `/api/v1/customers/${b}/transactions?limit=10&cursor=${encodeURIComponent(cursor)}`,
      key,
    );
    expect([200, 400]).toContain(onB.status);
    for (const item of (onB.body.items as { amount: number }[] | undefined) ?? [])
      expect(item.amount).toBe(99);
  });

  it("a key without admin cannot read deliveries, resend or delete endpoints", async () => {
    const admin = await keyWith();
    const receiver = await startWebhookReceiver();
    try {
      const endpoint = await endpointFor(admin, receiver.url, ["credits.granted"]);
      const weak = await keyWith(["read", "spend", "grant", "holds"]);
      for (const [method, path] of [
        ["GET", `/api/v1/webhook-endpoints/${endpoint.id}/deliveries`],
        ["POST", `/api/v1/webhook-deliveries/${randomUUID()}/resend`],
        ["DELETE", `/api/v1/webhook-endpoints/${endpoint.id}`],
      ] as const) {
        const response = await fetch(`${server.origin}${path}`, {
          method,
          headers: { authorization: `Bearer ${weak}`, "idempotency-key": randomUUID() },
        });
        expect(response.status, path).toBe(403);
      }
      expect((await call("GET", "/api/v1/webhook-endpoints", admin)).body.items ?? []).toBeDefined();
    } finally {
      await receiver.close();
    }
  });

  it("a customer's hold that times out and a lot that expires send hold.expired and credits.expired, in the order written", async () => {
    const key = await keyWith();
    const receiver = await startWebhookReceiver();
    try {
      const endpoint = await endpointFor(key, receiver.url, [
        "hold.expired",
        "credits.expired",
        "credits.granted",
      ]);
      const id = `exp-${randomUUID()}`;
      const customer = await call("PUT", `/api/v1/customers/${id}`, key, {});
      const soon = new Date(Date.now() + 60 * 60_000).toISOString();
      await call("POST", `/api/v1/customers/${id}/grants`, key, { amount: 8, expiresAt: soon });
      const hold = await call("POST", `/api/v1/customers/${id}/holds`, key, { amount: 3, ttlSeconds: 60 });
      expect(hold.status).toBe(201);
      await runSweep(database.db, new Date(Date.now() + 2 * 60 * 60_000));
      await runWebhookDelivery(database.db, { timeoutMs: 5000 });
      const mine = receiver
        .accepted()
        .map(
          (r) =>
            verifyWebhook(endpoint.secret, r) as unknown as {
              type: string;
              account: { userId: string; externalId: string };
            },
        )
        .filter((e) => e.account.externalId === id);
      const written = (
        await database.db
          .select()
          .from(outboundEvent)
          .where(eq(outboundEvent.userId, String(customer.body.userId)))
      )
        .sort((x, y) => x.seq - y.seq)
        .map((e) => e.type)
        // Other tests' endpoints may want balance events: only the types this endpoint wants count.
        .filter((t) => t !== "balance.depleted" && t !== "balance.recovered" && t !== "balance.low");
      expect(written.slice().sort()).toEqual(["credits.expired", "credits.granted", "hold.expired"]);
      expect(mine.map((e) => e.type)).toEqual(written);
      expect(mine.every((e) => e.account.userId === customer.body.userId)).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  // ---------- outbox ----------

  async function endpointFor(key: string, url: string, eventTypes: string[]) {
    const created = await call("POST", "/api/v1/webhook-endpoints", key, { url, eventTypes });
    expect(created.status).toBe(201);
    return created.body as { id: string; secret: string };
  }

  it("no event for a change that rolled back, a refused spend or a replayed request", async () => {
    const key = await keyWith();
    const receiver = await startWebhookReceiver();
    try {
      await endpointFor(key, receiver.url, ["credits.granted", "credits.consumed"]);
      const id = `ob-${randomUUID()}`;
      const customer = await call("PUT", `/api/v1/customers/${id}`, key, {});
      const accountId = String(customer.body.userId);
      await expect(
        database.db.transaction(async (tx) => {
          await addCredits(tx, {
            userId: accountId,
            amount: 10,
            type: "grant",
            description: "rolled back",
            idempotencyKey: "rb",
          });
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect((await call("POST", `/api/v1/customers/${id}/consume`, key, { amount: 1 })).status).toBe(402);
      const idem = randomUUID();
      await call("POST", `/api/v1/customers/${id}/grants`, key, { amount: 4 }, idem);
      await call("POST", `/api/v1/customers/${id}/grants`, key, { amount: 4 }, idem);
      const events = await database.db
        .select()
        .from(outboundEvent)
        .where(eq(outboundEvent.userId, accountId));
      // (Other tests' endpoints may want balance events; only the ledger's own events are counted here.)
      expect(events.map((e) => e.type).filter((t) => t.startsWith("credits."))).toEqual(["credits.granted"]);
      await runWebhookDelivery(database.db, { timeoutMs: 5000 });
      const accepted = receiver.accepted().filter((r) => r.body.includes(accountId));
      expect(accepted).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});

/** A receiver whose answers the test controls: each request waits in `pending` until released. */
async function controlledReceiver() {
  const pending: { id: string; body: string; respond: (status: number, body?: string) => void }[] = [];
  const arrived: { id: string; body: string }[] = [];
  let onArrive: (() => void) | undefined;
  const state = { autoRespond: false };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const entry = {
        id: String(request.headers["webhook-id"] ?? ""),
        body: Buffer.concat(chunks).toString("utf8"),
        respond: (status: number, body = "ok") => {
          if (!response.writableEnded) response.writeHead(status).end(body);
        },
      };
      arrived.push({ id: entry.id, body: entry.body });
      if (state.autoRespond) entry.respond(200);
      else pending.push(entry);
      onArrive?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    pending,
    arrived,
    state,
    /** Resolves once `count` requests have arrived in all. */
    waitFor: (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (arrived.length >= count) resolve();
        };
        onArrive = check;
        check();
      }),
    close: async () => {
      for (const p of pending) p.respond(200);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(databaseKinds())("outbound delivery attacks on %s", (kind) => {
  const database = useAppDatabase(kind);
  let server: ApiServer;
  beforeAll(async () => {
    server = await serveApi();
  });
  afterAll(async () => {
    await server?.close();
  });

  const adminKey = async () =>
    (await createApiKey(database.db, `k-${randomUUID().slice(0, 8)}`, OPERATOR)).key;

  async function call(method: string, path: string, key: string, json?: unknown) {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (method === "POST") headers["idempotency-key"] = randomUUID();
    if (json !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${server.origin}${path}`, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** A fresh user with `spends` spends of 1 after a grant of 100: 1 + spends events. */
  async function changes(spends: number): Promise<string> {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    for (let i = 0; i < spends; i++)
      await consumeCredits(database.db, { userId, amount: 1, description: "s", idempotencyKey: `s${i}` });
    return userId;
  }

  async function clearQueue() {
    // Each test starts from an empty queue: earlier tests' endpoints are removed with their queues.
    const endpoints = await database.db.query.webhookEndpoint.findMany();
    for (const e of endpoints) await deleteWebhookEndpoint(database.db, e.id);
  }

  it("two workers at once never let an account's later event pass an earlier one still in flight", async () => {
    await clearQueue();
    const key = await adminKey();
    const receiver = await controlledReceiver();
    try {
      await call("POST", "/api/v1/webhook-endpoints", key, {
        url: receiver.url,
        eventTypes: ["credits.granted", "credits.consumed"],
      });
      await changes(2);
      const first = runWebhookDelivery(database.db, { timeoutMs: 20_000, maxPasses: 1 });
      await receiver.waitFor(1);
      // The first event is in flight (the receiver has not answered); a second worker runs a pass.
      await runWebhookDelivery(database.db, { timeoutMs: 20_000, maxPasses: 1 });
      expect(receiver.arrived).toHaveLength(1);
      receiver.state.autoRespond = true;
      receiver.pending[0]?.respond(200);
      await first;
      await runWebhookDelivery(database.db, { timeoutMs: 5_000 });
      const types = receiver.arrived.map((a) => (JSON.parse(a.body) as { type: string }).type);
      expect(types.slice(0, 3)).toEqual(["credits.granted", "credits.consumed", "credits.consumed"]);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  // Rule: an endpoint deleted while its delivery is in flight drops that one result (SQLSTATE 23503 when
  // the attempt is logged); the pass goes on and records nothing for the deleted endpoint.
  it("an endpoint deleted while its delivery is in flight does not break the worker's pass", async () => {
    await clearQueue();
    const key = await adminKey();
    const receiver = await controlledReceiver();
    try {
      const endpoint = await call("POST", "/api/v1/webhook-endpoints", key, {
        url: receiver.url,
        eventTypes: ["credits.granted"],
      });
      await changes(0);
      const pass = runWebhookDelivery(database.db, { timeoutMs: 20_000, maxPasses: 1 });
      await receiver.waitFor(1);
      const deleted = await fetch(`${server.origin}/api/v1/webhook-endpoints/${endpoint.body.id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${key}`, "idempotency-key": randomUUID() },
      });
      expect(deleted.status).toBeLessThan(300);
      receiver.pending[0]?.respond(200);
      await expect(pass).resolves.toBeDefined();
      expect(await database.db.select().from(webhookDelivery)).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  // Rule: a delivery is sent only under a lease renewed just before the send (takeLease in
  // src/outbound/deliver-webhooks.ts), never after its lease ran out and another worker took it, however
  // long the pass that claimed it runs.
  it("a receiver that answers every event 200 in time never gets one twice, however long a pass runs", async () => {
    await clearQueue();
    const key = await adminKey();
    const counts = new Map<string, number>();
    const slow = http.createServer((req, res) => {
      req.resume();
      const id = String(req.headers["webhook-id"]);
      counts.set(id, (counts.get(id) ?? 0) + 1);
      setTimeout(() => res.writeHead(200).end("ok"), 900);
    });
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
    try {
      await call("POST", "/api/v1/webhook-endpoints", key, {
        url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/h`,
        eventTypes: ["credits.granted"],
      });
      for (let i = 0; i < 40; i++) await changes(0);
      // Leases of 1 s (the send timeout) + 5 s instead of + 30 s: the first pass (40 sends of 0.9 s, one at a
      // time) still runs far past the leases its claim took, and the test need not wait half a minute.
      const worker = { timeoutMs: 1_000, leaseMarginSeconds: 5 };
      const started = Date.now();
      const first = runWebhookDelivery(database.db, { ...worker, concurrency: 1, maxPasses: 1 });
      // Another worker polls while the first pass is still sending, as the scheduled job does, once the
      // leases the first pass's claim took have run out.
      while (Date.now() - started < 8_000) await new Promise((resolve) => setTimeout(resolve, 500));
      await runWebhookDelivery(database.db, { ...worker, maxPasses: 1 });
      await first;
      expect(counts.size).toBe(40);
      // "In time" is what the sender saw: on a loaded machine an answer after 900 ms can still pass the
      // 1-second limit, and such an attempt is rightly retried (at least once). What must never happen is
      // a second send of an event whose first attempt the sender recorded as delivered.
      const attempts = await database.db
        .select({ eventId: webhookDelivery.eventId, statusCode: webhookDeliveryAttempt.statusCode })
        .from(webhookDeliveryAttempt)
        .innerJoin(webhookDelivery, eq(webhookDelivery.id, webhookDeliveryAttempt.deliveryId));
      const timedOut = new Set(attempts.filter((a) => a.statusCode !== 200).map((a) => a.eventId));
      const twice = [...counts.entries()].filter(([, n]) => n > 1).map(([id]) => id);
      expect(twice.filter((id) => !timedOut.has(id))).toEqual([]);
      expect(timedOut.size).toBeLessThan(40);
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  }, 120_000);

  it("resending a delivery of a deleted endpoint is a 404 and queues nothing", async () => {
    await clearQueue();
    const key = await adminKey();
    const receiver = await startWebhookReceiver();
    try {
      const endpoint = await call("POST", "/api/v1/webhook-endpoints", key, {
        url: receiver.url,
        eventTypes: ["credits.granted"],
      });
      await changes(0);
      await runWebhookDelivery(database.db, { timeoutMs: 5_000 });
      const listed = await call("GET", `/api/v1/webhook-endpoints/${endpoint.body.id}/deliveries`, key);
      const deliveryId = (listed.body.items as { id: string }[] | undefined)?.[0]?.id ?? "";
      expect(deliveryId).not.toBe("");
      await fetch(`${server.origin}/api/v1/webhook-endpoints/${endpoint.body.id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${key}`, "idempotency-key": randomUUID() },
      });
      const resent = await call("POST", `/api/v1/webhook-deliveries/${deliveryId}/resend`, key);
      expect(resent.status).toBe(404);
      const garbage = await call("POST", "/api/v1/webhook-deliveries/not-a-uuid/resend", key);
      expect(garbage.status).toBe(404);
    } finally {
      await receiver.close();
    }
  });

  it("a redirect is not followed and counts as a failure", async () => {
    await clearQueue();
    const key = await adminKey();
    const target = await startWebhookReceiver();
    const redirector = http.createServer((_req, res) => res.writeHead(307, { location: target.url }).end());
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
    try {
      await call("POST", "/api/v1/webhook-endpoints", key, {
        url: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/h`,
        eventTypes: ["credits.granted"],
      });
      await changes(0);
      const result = await runWebhookDelivery(database.db, { timeoutMs: 5_000 });
      expect(result.delivered).toBe(0);
      expect(target.received).toHaveLength(0);
    } finally {
      redirector.closeAllConnections();
      await new Promise<void>((resolve) => redirector.close(() => resolve()));
      await target.close();
    }
  });

  it("a receiver that answers 200 and then streams its body forever does not stall the worker", async () => {
    await clearQueue();
    const key = await adminKey();
    const sockets = new Set<http.ServerResponse>();
    const endless = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      sockets.add(res);
      const tick = setInterval(() => {
        if (res.destroyed) clearInterval(tick);
        else res.write("x".repeat(64 * 1024));
      }, 5);
    });
    await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
    try {
      await call("POST", "/api/v1/webhook-endpoints", key, {
        url: `http://127.0.0.1:${(endless.address() as AddressInfo).port}/h`,
        eventTypes: ["credits.granted"],
      });
      await changes(0);
      const pass = runWebhookDelivery(database.db, { timeoutMs: 2_000, maxPasses: 1 });
      const outcome = await Promise.race([
        pass.then(() => "finished"),
        new Promise((resolve) => setTimeout(() => resolve("stalled"), 15_000)),
      ]);
      expect(outcome).toBe("finished");
      const attempts = await database.db.select().from(webhookDeliveryAttempt);
      for (const a of attempts) expect((a.responseBody ?? "").length).toBeLessThanOrEqual(1000);
    } finally {
      for (const s of sockets) s.destroy();
      endless.closeAllConnections();
      await new Promise<void>((resolve) => endless.close(() => resolve()));
    }
  }, 60_000);

  // Rule (SSRF): link-local and cloud metadata addresses are never an endpoint, whatever
  // WEBHOOK_ALLOW_PRIVATE_URLS says (src/outbound/address-policy.ts).
  it("an endpoint URL pointing at the cloud metadata address is refused", async () => {
    const key = await adminKey();
    for (const url of [
      "http://169.254.169.254/latest/meta-data/",
      "http://[fe80::1]/",
      "http://169.254.170.2/v2/credentials",
    ]) {
      const created = await call("POST", "/api/v1/webhook-endpoints", key, {
        url,
        eventTypes: ["credits.granted"],
      });
      expect(created.status, url).toBe(400);
    }
  });

  it("signatures verify with the library and a retried event keeps its id", async () => {
    await clearQueue();
    const key = await adminKey();
    const receiver = await startWebhookReceiver(({ count }) =>
      count === 1 ? { status: 500 } : { status: 200 },
    );
    try {
      const endpoint = await call("POST", "/api/v1/webhook-endpoints", key, {
        url: receiver.url,
        eventTypes: ["credits.granted"],
      });
      await changes(0);
      await runWebhookDelivery(database.db, { timeoutMs: 5_000 });
      await runWebhookDelivery(database.db, { timeoutMs: 5_000, now: new Date(Date.now() + 60 * 60_000) });
      expect(receiver.received).toHaveLength(2);
      expect(receiver.received[0]?.id).toBe(receiver.received[1]?.id);
      for (const r of receiver.received) verifyWebhook(String(endpoint.body.secret), r);
    } finally {
      await receiver.close();
    }
  });
});

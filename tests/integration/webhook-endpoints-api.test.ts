import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { creditAccount, outboundEvent, webhookDelivery } from "../../src/db/schema";
import { routes } from "../../src/routes";
import createEndpoint from "../../src/routes/v1/create-webhook-endpoint";
import deleteEndpoint from "../../src/routes/v1/delete-webhook-endpoint";
import listDeliveries from "../../src/routes/v1/list-webhook-deliveries";
import listEndpoints from "../../src/routes/v1/list-webhook-endpoints";
import resendDelivery from "../../src/routes/v1/resend-webhook-delivery";
import setThreshold from "../../src/routes/v1/set-low-balance-threshold";
import type { RouteDefinition } from "../../src/server/define-route";
import { buildServiceApiDocument } from "../../src/server/openapi-document";
import { createApiKey } from "../../src/service-api/api-keys";
import type { ApiScope } from "../../src/service-api/api-scopes";
import { useAppDatabase } from "../support/app-database";
import { APP_ORIGIN } from "../support/app-requests";
import { handlerOf } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { databaseKinds } from "../support/test-database";

const OPERATOR = { userId: null, label: "webhook endpoint tests" };

/** The service API's endpoint management and the low-balance threshold, called as another backend would. */
describe.each(databaseKinds())("webhook endpoints in the service API on %s", (kind) => {
  const database = useAppDatabase(kind);

  const keyWith = async (scopes: readonly ApiScope[]) =>
    (await createApiKey(database.db, `key-${randomUUID().slice(0, 8)}`, OPERATOR, scopes)).key;

  async function call(
    route: RouteDefinition,
    method: string,
    pathname: string,
    key: string,
    json?: unknown,
    idempotencyKey: string | null = randomUUID(),
  ) {
    const headers = new Headers({ authorization: `Bearer ${key}` });
    if (method !== "GET" && idempotencyKey) headers.set("idempotency-key", idempotencyKey);
    if (json !== undefined) headers.set("content-type", "application/json");
    const response = await handlerOf(route)(
      new Request(new URL(pathname, APP_ORIGIN), {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
      }),
      { params: Promise.resolve({}) },
    );
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it("creates an endpoint (secret once), lists it without the secret, and deletes it", async () => {
    const admin = await keyWith(["admin"]);
    const idempotencyKey = randomUUID();
    const body = { url: "https://example.com/hooks", eventTypes: ["credits.consumed", "balance.low"] };
    const created = await call(
      createEndpoint,
      "POST",
      "/api/v1/webhook-endpoints",
      admin,
      body,
      idempotencyKey,
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: body.url, eventTypes: body.eventTypes, enabled: true });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    // A retry gets the same answer, not a second endpoint.
    const again = await call(
      createEndpoint,
      "POST",
      "/api/v1/webhook-endpoints",
      admin,
      body,
      idempotencyKey,
    );
    expect(again.body).toEqual(created.body);
    const listed = await call(listEndpoints, "GET", "/api/v1/webhook-endpoints", admin);
    const items = listed.body.items as Record<string, unknown>[];
    expect(items.filter((item) => item.id === created.body.id)).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(String(created.body.secret));
    const deleted = await call(
      deleteEndpoint,
      "DELETE",
      `/api/v1/webhook-endpoints/${created.body.id}`,
      admin,
    );
    expect(deleted).toEqual({ status: 200, body: { id: created.body.id, deleted: true } });
    const gone = await call(deleteEndpoint, "DELETE", `/api/v1/webhook-endpoints/${created.body.id}`, admin);
    expect(gone.status).toBe(404);
    // A deleted or unknown endpoint's deliveries are a 404 (as documented), not an empty list that
    // would read as "nothing sent yet"; a live endpoint with nothing sent lists none.
    for (const id of [created.body.id, randomUUID()]) {
      const deliveries = await call(
        listDeliveries,
        "GET",
        `/api/v1/webhook-endpoints/${id}/deliveries`,
        admin,
      );
      expect(deliveries.status).toBe(404);
    }
    const fresh = await call(createEndpoint, "POST", "/api/v1/webhook-endpoints", admin, {
      url: body.url,
      eventTypes: ["hold.expired"],
    });
    const none = await call(
      listDeliveries,
      "GET",
      `/api/v1/webhook-endpoints/${fresh.body.id}/deliveries`,
      admin,
    );
    expect(none).toEqual({ status: 200, body: { items: [] } });
    await call(deleteEndpoint, "DELETE", `/api/v1/webhook-endpoints/${fresh.body.id}`, admin);
  });

  it("refuses URLs that are not http(s), unknown event types, and keys without `admin`", async () => {
    const admin = await keyWith(["admin"]);
    for (const url of [
      "ftp://example.com/x",
      "javascript:alert(1)",
      "/relative",
      "https://user:pw@example.com/",
    ]) {
      const refused = await call(createEndpoint, "POST", "/api/v1/webhook-endpoints", admin, {
        url,
        eventTypes: ["credits.consumed"],
      });
      expect(refused.status, url).toBe(400);
    }
    const unknownType = await call(createEndpoint, "POST", "/api/v1/webhook-endpoints", admin, {
      url: "https://example.com/",
      eventTypes: ["credits.stolen"],
    });
    expect(unknownType.status).toBe(400);
    const spender = await keyWith(["read", "spend", "grant", "holds"]);
    const forbidden = await call(createEndpoint, "POST", "/api/v1/webhook-endpoints", spender, {
      url: "https://example.com/",
      eventTypes: ["credits.consumed"],
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { code: "insufficient_scope", requiredScope: "admin" } });
  });

  it("sets the low-balance threshold, lists deliveries and resends one", async () => {
    const admin = await keyWith(["admin"]);
    const created = await call(createEndpoint, "POST", "/api/v1/webhook-endpoints", admin, {
      url: "http://127.0.0.1:9/hooks",
      eventTypes: ["balance.low"],
    });
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    const set = await call(setThreshold, "PUT", `/api/v1/users/${userId}/low-balance-threshold`, admin, {
      threshold: 50,
    });
    expect(set).toEqual({ status: 200, body: { userId, threshold: 50, available: 100 } });
    const [account] = await database.db.select().from(creditAccount).where(eq(creditAccount.userId, userId));
    expect(account?.lowBalanceThreshold).toBe(50);
    const zero = await call(setThreshold, "PUT", `/api/v1/users/${userId}/low-balance-threshold`, admin, {
      threshold: 0,
    });
    expect(zero.status).toBe(400);
    await consumeCredits(database.db, { userId, amount: 60, description: "s", idempotencyKey: "s" });
    const [event] = await database.db.select().from(outboundEvent).where(eq(outboundEvent.userId, userId));
    expect(event?.type).toBe("balance.low");
    const listed = await call(
      listDeliveries,
      "GET",
      `/api/v1/webhook-endpoints/${created.body.id}/deliveries`,
      admin,
    );
    const [delivery] = listed.body.items as { id: string; eventId: string; status: string }[];
    expect(delivery).toMatchObject({ eventId: event?.id, status: "pending" });
    await database.db
      .update(webhookDelivery)
      .set({ status: "failed" })
      .where(eq(webhookDelivery.id, delivery?.id ?? ""));
    const resent = await call(
      resendDelivery,
      "POST",
      `/api/v1/webhook-deliveries/${delivery?.id}/resend`,
      admin,
    );
    expect(resent).toEqual({
      status: 200,
      body: { deliveryId: delivery?.id, eventId: event?.id, status: "pending" },
    });
    const [row] = await database.db
      .select()
      .from(webhookDelivery)
      .where(eq(webhookDelivery.id, delivery?.id ?? ""));
    expect(row?.status).toBe("pending");
  });

  it("the OpenAPI document lists the new operations with their scopes", () => {
    const document = buildServiceApiDocument(routes, "http://localhost:3000") as unknown as {
      paths: Record<string, Record<string, { "x-required-scope"?: string }>>;
    };
    expect(document.paths["/webhook-endpoints"]?.post?.["x-required-scope"]).toBe("admin");
    expect(document.paths["/webhook-endpoints/{endpointId}"]?.delete?.["x-required-scope"]).toBe("admin");
    expect(document.paths["/users/{userId}/low-balance-threshold"]?.put?.["x-required-scope"]).toBe("admin");
    expect(document.paths["/webhook-deliveries/{deliveryId}/resend"]?.post).toBeTruthy();
  });
});

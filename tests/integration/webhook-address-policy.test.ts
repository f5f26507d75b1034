import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { webhookDeliveryAttempt, webhookEndpoint } from "../../src/db/schema";
import { classifyAddress } from "../../src/outbound/address-policy";
import { createWebhookEndpoint } from "../../src/outbound/create-webhook-endpoint";
import { deleteWebhookEndpoint } from "../../src/outbound/delete-webhook-endpoint";
import { runWebhookDelivery } from "../../src/outbound/deliver-webhooks";
import { newWebhookSecret } from "../../src/outbound/webhook-secret";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { databaseKinds, useTestDatabase } from "../support/test-database";
import { startWebhookReceiver } from "../support/webhook-receiver";

// As a deployment that serves other machines: loopback and private networks are not endpoints.
const serverEnv = configureServerEnv({ WEBHOOK_ALLOW_PRIVATE_URLS: "false" });
afterAll(() => serverEnv.cleanup());

describe("address classes", () => {
  it("judges IPv4 carried in IPv6 as IPv4, and metadata addresses as blocked", () => {
    for (const address of [
      "169.254.169.254",
      "[::ffff:a9fe:a9fe]",
      "::ffff:169.254.169.254",
      "64:ff9b::a9fe:a9fe",
      "2002:a9fe:a9fe::1",
      "fe80::1",
      "fd00:ec2::254",
      "100.100.100.200",
      "0.0.0.0",
      "::",
      "224.0.0.1",
      "ff02::1",
      "255.255.255.255",
    ])
      expect(classifyAddress(address), address).toBe("blocked");
    for (const address of [
      "127.0.0.1",
      "::1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "fc00::1",
      "100.64.0.1",
    ])
      expect(classifyAddress(address), address).toBe("private");
    for (const address of ["93.184.216.34", "2606:4700::1111", "172.32.0.1", "8.8.8.8"])
      expect(classifyAddress(address), address).toBe("public");
    expect(classifyAddress("example.com")).toBeNull();
  });
});

describe.each(databaseKinds())("webhook endpoint addresses on %s", (kind) => {
  const database = useTestDatabase(kind);

  it("refuses loopback, private and metadata endpoints at creation when private URLs are off", async () => {
    for (const url of [
      "http://127.0.0.1:8080/h",
      "http://localhost/h",
      "http://app.localhost/h",
      "http://[::1]/h",
      "http://10.0.0.5/h",
      "http://172.20.1.1/h",
      "http://192.168.1.10/h",
      "http://[fc00::1]/h",
      "http://0.0.0.0/h",
      "http://2130706433/h",
      "http://[::ffff:127.0.0.1]/h",
      "http://169.254.169.254/latest/meta-data/",
      "http://metadata.google.internal/computeMetadata/v1/",
    ]) {
      await expect(
        createWebhookEndpoint(database.db, { url, eventTypes: ["credits.granted"] }),
        url,
      ).rejects.toThrow(/address/);
    }
    const ok = await createWebhookEndpoint(database.db, {
      url: "https://hooks.example.com/h",
      eventTypes: ["credits.granted"],
    });
    await deleteWebhookEndpoint(database.db, ok.id);
  });

  it("checks the address a name resolves to at delivery, and never connects to a refused one", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const port = new URL(receiver.url).port;
      // Rows written before the rule (or by hand): a name that resolves to loopback, and a link-local literal.
      const rows = await database.db
        .insert(webhookEndpoint)
        .values(
          [`http://localhost:${port}/hooks`, "http://169.254.169.254/latest/meta-data/"].map((url) => ({
            url,
            eventTypes: ["credits.granted"],
            secret: newWebhookSecret(),
          })),
        )
        .returning();
      const userId = await seedUser(database.db);
      await addCredits(database.db, {
        userId,
        amount: 5,
        type: "grant",
        description: "g",
        idempotencyKey: `g-${randomUUID()}`,
      });
      const result = await runWebhookDelivery(database.db, { timeoutMs: 2_000, maxPasses: 1 });
      expect(result.delivered).toBe(0);
      expect(receiver.received).toHaveLength(0);
      const attempts = await database.db.select().from(webhookDeliveryAttempt);
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      for (const attempt of attempts) {
        expect(attempt.statusCode).toBeNull();
        expect(attempt.error).toMatch(/^EADDRREFUSED/);
      }
      for (const row of rows) await deleteWebhookEndpoint(database.db, row.id);
    } finally {
      await receiver.close();
    }
  });
});

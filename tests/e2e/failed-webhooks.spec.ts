import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect, type Page, test } from "@playwright/test";
import Stripe from "stripe";
import { PASSWORD, signInAsAdmin } from "./support/admin";

/**
 * The sandbox's webhook secret of the server under test: playwright.config.ts gives it a fresh
 * `.data/e2e-<time>` folder, where the server generated its local secrets on start.
 */
function sandboxWebhookSecret(): string {
  const folders = fs
    .readdirSync(".data")
    .filter((name) => name.startsWith("e2e-"))
    .map((name) => path.join(".data", name))
    .filter((folder) => fs.existsSync(path.join(folder, "secrets.json")))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  const newest = folders[0];
  if (!newest) throw new Error("no e2e data folder with secrets.json");
  const secrets = JSON.parse(fs.readFileSync(path.join(newest, "secrets.json"), "utf8")) as {
    sandboxWebhookSecret: string;
  };
  return secrets.sandboxWebhookSecret;
}

async function signUp(page: Page, email: string): Promise<void> {
  await page.goto("/en/sign-up");
  await page.getByTestId("name-input").fill("Test User");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-auth").click();
  await expect(page.getByTestId("auth-error").or(page.getByTestId("balance-value"))).toBeVisible();
  if (await page.getByTestId("auth-error").isVisible()) {
    await page.goto("/en/sign-in");
    await page.getByTestId("email-input").fill(email);
    await page.getByTestId("password-input").fill(PASSWORD);
    await page.getByTestId("submit-auth").click();
  }
  await page.waitForURL("**/en/settings/credits**");
}

test("a verified webhook that fails is listed under Failed webhooks, and a retry is audited", async ({
  browser,
  request,
}) => {
  const customer = await (await browser.newContext()).newPage();
  await signUp(customer, `customer-${randomUUID().slice(0, 8)}@example.test`);
  const started = await customer.request.post("/api/credits/purchases", { data: { packageId: "basic" } });
  expect(started.status()).toBe(201);
  const { paymentIntentId, purchaseId } = (await started.json()) as {
    paymentIntentId: string;
    purchaseId: string;
  };

  // A validly signed dispute event for that purchase with a status this app does not know (as if Stripe
  // added one): nothing may be applied, and it must be answered 5xx and kept for the operator.
  const eventId = `evt_e2e_${randomBytes(8).toString("hex")}`;
  const payload = JSON.stringify({
    id: eventId,
    object: "event",
    api_version: "2025-01-01",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: "charge.dispute.updated",
    data: {
      object: {
        id: `dp_e2e_${randomBytes(6).toString("hex")}`,
        object: "dispute",
        amount: 999,
        currency: "usd",
        charge: `ch_for_${paymentIntentId}`,
        payment_intent: paymentIntentId,
        status: "appeal_won_partially",
        metadata: { purchaseId },
      },
    },
  });
  const signature = new Stripe("sk_test_signing_only").webhooks.generateTestHeaderString({
    payload,
    secret: sandboxWebhookSecret(),
  });
  const delivered = await request.post("/api/webhooks/stripe", {
    data: payload,
    headers: { "content-type": "application/json", "stripe-signature": signature },
  });
  expect(delivered.status()).toBe(500);
  expect(await delivered.json()).toMatchObject({ error: { retryable: true } });

  const admin = await (await browser.newContext()).newPage();
  await signInAsAdmin(admin);
  await admin.goto("/en/admin");
  await admin.getByTestId("admin-nav-webhooks").click();
  await admin.waitForURL("**/en/admin/webhooks");
  await expect(admin.locator('[data-slot="card-title"]')).toHaveText("Failed webhooks");
  const row = admin.locator(`[data-testid="webhook-failure-row"][data-event-id="${eventId}"]`);
  await expect(row).toBeVisible();
  await expect(row).toContainText("charge.dispute.updated");
  await expect(row.getByTestId("webhook-failure-status")).toHaveText("Unresolved");
  await expect(row.getByTestId("webhook-failure-reason")).toContainText("status this code does not know");

  // The cause is not fixed (this code still does not know the status): the retry fails again and says so.
  await row.getByTestId(`retry-webhook-${eventId}`).click();
  await expect(admin.getByText("The event failed again")).toBeVisible();
  await expect(row).toContainText("2");

  await admin.goto("/en/admin/audit");
  await expect(admin.locator('[data-testid="audit-row"][data-action="webhook.retry"]').first()).toContainText(
    "Webhook retried",
  );

  await admin.goto("/zh/admin/webhooks");
  await expect(admin.locator('[data-slot="card-title"]')).toHaveText("失败的 Webhook");
  await expect(
    admin.locator(`[data-testid="webhook-failure-row"][data-event-id="${eventId}"]`),
  ).toContainText("未解决");
});

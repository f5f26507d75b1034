import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect, type Page, test } from "@playwright/test";
import { Webhook } from "standardwebhooks";
import { ADMIN_EMAIL, signInAsAdmin } from "./support/admin";

/** A delivery the receiver got: the headers' id and the body as sent. */
type Received = { webhookId: string; headers: Record<string, string>; body: string };

/** A local receiver of the app's outbound events: answers 204 to everything and keeps what it got. */
async function startReceiver(): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(
      ["webhook-id", "webhook-timestamp", "webhook-signature"].map((name) => [
        name,
        String(request.headers[name] ?? ""),
      ]),
    );
    received.push({
      webhookId: headers["webhook-id"] ?? "",
      headers,
      body: Buffer.concat(chunks).toString("utf8"),
    });
    response.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/creditkit`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Grants the admin's own account `amount` credits from its page in the console (one credits.granted event). */
async function grantToSelf(admin: Page, amount: number, reason: string): Promise<void> {
  await admin.goto(`/en/admin?q=${encodeURIComponent(ADMIN_EMAIL)}`);
  // The search matches substrings (unverified-admin@example.test too, made by another spec): take the row
  // whose address is exactly the admin's.
  const row = admin
    .getByTestId("admin-user-row")
    .filter({ has: admin.getByText(ADMIN_EMAIL, { exact: true }) });
  await expect(row).toHaveCount(1);
  await row.getByTestId("admin-user-link").click();
  await admin.waitForURL("**/en/admin/users/**");
  await admin.getByTestId("adjust-amount").fill(String(amount));
  await admin.getByTestId("adjust-reason").fill(reason);
  await admin.getByTestId("adjust-submit").click();
  await expect(admin.getByTestId("adjust-amount")).toHaveValue("");
}

test("an admin registers an endpoint, sees its secret once, sees the signed delivery and resends it", async ({
  page,
}) => {
  const receiver = await startReceiver();
  try {
    await signInAsAdmin(page);
    await page.goto("/en/admin");
    await page.getByRole("link", { name: "Outbound webhooks" }).first().click();
    await page.waitForURL("**/en/admin/outbound-webhooks");
    await expect(page.getByRole("link", { name: "Outbound webhooks" }).first()).toHaveAttribute(
      "aria-current",
      "page",
    );

    const form = page.getByTestId("outbound-create");
    // The cloud metadata address is refused with its reason (server-side request forgery), and nothing is made.
    await form.getByLabel("Endpoint URL (http or https)").fill("http://169.254.169.254/latest/meta-data");
    await form.getByRole("button", { name: "Add endpoint" }).click();
    await expect(page.getByText("Events are never sent to this address", { exact: false })).toBeVisible();
    await expect(page.getByTestId("outbound-secret")).toHaveCount(0);

    // Register the receiver for credits.granted only.
    await form.getByLabel("Endpoint URL (http or https)").fill(receiver.url);
    const types = form.getByRole("group", { name: "Event types" }).getByRole("checkbox");
    for (const box of await types.all()) await box.uncheck();
    await form.getByRole("checkbox", { name: "credits.granted" }).check();
    await form.getByRole("button", { name: "Add endpoint" }).click();

    // The secret is shown once, right after the endpoint was made, and the endpoint is listed.
    const secretBox = page.getByTestId("outbound-secret");
    await expect(secretBox).toHaveText(/^whsec_\S+$/);
    const secret = (await secretBox.textContent())?.trim() ?? "";
    const endpointRow = page.getByRole("listitem").filter({ hasText: receiver.url });
    await expect(endpointRow).toContainText("credits.granted");
    await expect(endpointRow).toContainText("Enabled");
    await page.reload();
    await expect(page.getByRole("listitem").filter({ hasText: receiver.url })).toBeVisible();
    await expect(page.getByTestId("outbound-secret")).toHaveCount(0);
    expect(await page.content()).not.toContain(secret);

    // A grant in the console is an event; the app's delivery worker sends it, signed with that secret.
    await grantToSelf(page, 7, `Outbound e2e ${randomUUID().slice(0, 8)}`);
    await expect.poll(() => receiver.received.length, { timeout: 30_000 }).toBe(1);
    const first = receiver.received[0] as Received;
    const event = new Webhook(secret).verify(first.body, first.headers) as {
      id: string;
      type: string;
      data: { amount: number };
    };
    expect(event).toMatchObject({ type: "credits.granted", data: { amount: 7 } });
    expect(first.webhookId).toBe(event.id);

    // The delivery is listed with its status and its attempt.
    await page.goto("/en/admin/outbound-webhooks");
    const deliveries = page.getByTestId("outbound-deliveries");
    const delivery = deliveries.getByRole("listitem").filter({ hasText: event.id }).first();
    await expect(delivery).toContainText(`credits.granted · ${event.id}`);
    await expect(delivery).toContainText("Delivered");
    await expect(delivery).toContainText("1 attempt");
    await expect(delivery).toContainText("204");

    // Resend: the same event goes out again with the same id, and a second attempt is listed.
    await delivery.getByRole("button", { name: `Resend event ${event.id}` }).click();
    await expect(page.getByText("Queued again; it goes out within seconds.")).toBeVisible();
    await expect.poll(() => receiver.received.length, { timeout: 30_000 }).toBe(2);
    const again = receiver.received[1] as Received;
    expect(again.webhookId).toBe(event.id);
    expect((new Webhook(secret).verify(again.body, again.headers) as { id: string }).id).toBe(event.id);
    await expect
      .poll(
        async () => {
          await page.reload();
          return page
            .getByTestId("outbound-deliveries")
            .getByRole("listitem")
            .filter({ hasText: `credits.granted · ${event.id}` })
            .first()
            .textContent();
        },
        { timeout: 30_000 },
      )
      .toContain("2 attempts");

    // Both changes are in the audit log under the admin, and the filter by who acted finds them.
    await page.goto("/en/admin/audit");
    await page
      .getByRole("navigation", { name: "Who acted" })
      .getByRole("link", { name: "Admins (console)" })
      .click();
    await page.waitForURL("**/en/admin/audit?actor=admin");
    const audited = page.getByTestId("audit-row");
    const row = (action: string) => page.locator(`[data-testid="audit-row"][data-action="${action}"]`);
    await expect(row("webhook_endpoint.create").first()).toBeVisible();
    await expect(row("webhook_delivery.resend").first()).toBeVisible();
    for (const kind of await audited.evaluateAll((rows) =>
      rows.map((row) => row.getAttribute("data-actor-kind")),
    ))
      expect(kind).toBe("admin");
    await page.getByRole("navigation", { name: "Who acted" }).getByRole("link", { name: "API keys" }).click();
    await page.waitForURL("**/en/admin/audit?actor=api_key");
    await expect(row("webhook_endpoint.create")).toHaveCount(0);
  } finally {
    await receiver.close();
  }
});

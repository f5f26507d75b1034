import { randomUUID } from "node:crypto";
import { type Browser, expect, type Page, test } from "@playwright/test";
import { PASSWORD, signInAsAdmin } from "./support/admin";

const SCREENSHOTS = "test-results/screenshots";

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  return context.newPage();
}

/** A new customer on Pro, paid with the sandbox's test card, one renewal later (two periods and a carry). */
async function subscribedCustomer(page: Page): Promise<string> {
  const email = `subscriber-${randomUUID().slice(0, 8)}@example.test`;
  await page.goto("/en/sign-up");
  await page.getByTestId("name-input").fill("Test Subscriber");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-auth").click();
  await page.waitForURL("**/en/settings/credits**");
  await page.getByTestId("subscribe-pro-monthly").click();
  await page.getByTestId("sandbox-card-number").fill("4242 4242 4242 4242");
  await page.getByTestId("sandbox-pay").click();
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await page.getByTestId("payment-done").click();
  await expect(page.getByTestId("balance-value")).toHaveText("1,000");
  await page.getByTestId("advance-renewal").click();
  await expect(page.getByTestId("advance-result")).toHaveAttribute("data-tone", "success");
  await expect(page.getByTestId("balance-value")).toHaveText("2,000");
  return email;
}

test("an admin finds a subscriber under Subscriptions, filters by status and reads the periods each invoice granted", async ({
  browser,
}) => {
  const customer = await newPage(browser);
  const email = await subscribedCustomer(customer);
  // The console is for admins only: to a customer the page does not exist.
  expect((await customer.goto("/en/admin/subscriptions"))?.status()).toBe(404);

  const admin = await newPage(browser);
  const consoleErrors: string[] = [];
  admin.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await signInAsAdmin(admin);
  await admin.goto("/en/admin");
  await admin.getByTestId("admin-nav-subscriptions").click();
  await admin.waitForURL("**/en/admin/subscriptions");
  await expect(admin.getByTestId("admin-nav-subscriptions")).toHaveAttribute("aria-current", "page");

  const row = admin.getByTestId("admin-subscription-row").filter({ hasText: email });
  await expect(row).toHaveCount(1);
  await expect(row).toHaveAttribute("data-status", "active");
  await expect(row.getByTestId("subscription-plan")).toHaveText("Pro");
  await expect(row.getByTestId("subscription-status")).toHaveText("Active");

  // The filter narrows to one status; the subscriber is not past due.
  await admin.getByTestId("subscription-filter-past_due").click();
  await admin.waitForURL("**/en/admin/subscriptions?status=past_due");
  await expect(admin.getByTestId("subscription-filter-past_due")).toHaveAttribute("aria-current", "page");
  await expect(admin.getByTestId("admin-subscription-row").filter({ hasText: email })).toHaveCount(0);
  await admin.getByTestId("subscription-filter-active").click();
  await admin.waitForURL("**/en/admin/subscriptions?status=active");
  await expect(row).toHaveCount(1);

  // The customer's page: the subscription with its two paid periods and the first period's carry.
  await row.getByTestId("subscription-customer").click();
  await admin.waitForURL("**/en/admin/users/**");
  await expect(admin.getByTestId("admin-user-email")).toHaveText(email);
  const section = admin.getByTestId("admin-user-subscriptions");
  await expect(section.getByTestId("admin-user-subscription")).toHaveCount(1);
  await expect(section.getByTestId("subscription-status")).toHaveText("Active");
  const periods = section.getByTestId("subscription-period-row");
  await expect(periods).toHaveCount(3);
  expect(
    await periods.evaluateAll((rows) =>
      rows.map((row) => `${row.getAttribute("data-kind")}:${row.getAttribute("data-status")}`),
    ),
  ).toEqual(["period:granted", "rollover:granted", "period:granted"]);
  await expect(periods.first()).toContainText("Monthly period");
  await expect(periods.first()).toContainText("1,000 left");
  await expect(periods.first()).toContainText("$19.00");
  await expect(periods.nth(1)).toContainText("Carried over");
  await expect(periods.nth(2)).toContainText("0 left");

  const userPath = new URL(admin.url()).pathname.replace(/^\/en/, "");
  const filtered = "/admin/subscriptions?status=active";
  for (const locale of ["en", "zh"] as const) {
    for (const [device, viewport, scheme] of [
      ["desktop", { width: 1280, height: 900 }, "light"],
      ["desktop-dark", { width: 1280, height: 900 }, "dark"],
      ["mobile", { width: 390, height: 844 }, "light"],
      ["mobile-dark", { width: 390, height: 844 }, "dark"],
    ] as const) {
      await admin.setViewportSize(viewport);
      await admin.emulateMedia({ colorScheme: scheme });
      await admin.goto(`/${locale}${filtered}`);
      await expect(admin.locator("html")).toHaveAttribute("lang", locale);
      await expect(admin.locator("html")).toHaveClass(new RegExp(`\\b${scheme}\\b`));
      await expect(admin.getByTestId("subscription-status").first()).toHaveText(
        locale === "en" ? "Active" : "生效中",
      );
      await admin.screenshot({
        path: `${SCREENSHOTS}/admin-subscriptions-${locale}-${device}.png`,
        fullPage: true,
      });
      await admin.goto(`/${locale}${userPath}`);
      await admin.waitForLoadState("networkidle");
      const subscriptions = admin.getByTestId("admin-user-subscriptions");
      await expect(subscriptions.getByTestId("subscription-period-row")).toHaveCount(3);
      await expect(subscriptions.getByTestId("period-status").first()).toHaveText(
        locale === "en" ? "Granted" : "已发放",
      );
      await subscriptions.screenshot({
        path: `${SCREENSHOTS}/admin-user-subscriptions-${locale}-${device}.png`,
      });
    }
  }
  // Dates render in the reader's time zone after hydration: no mismatch, no client re-render.
  expect(consoleErrors.filter((text) => /hydrat/i.test(text))).toEqual([]);
});

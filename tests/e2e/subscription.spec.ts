import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { expect, type Page, test } from "@playwright/test";

const SCREENSHOTS = "test-results/screenshots";
const en = JSON.parse(fs.readFileSync("messages/en.json", "utf8"));
const zh = JSON.parse(fs.readFileSync("messages/zh.json", "utf8"));
const MESSAGES = { en, zh } as const;

async function signUp(page: Page, locale: "en" | "zh" = "en"): Promise<string> {
  const email = `subscriber-${randomUUID().slice(0, 8)}@example.test`;
  await page.goto(`/${locale}/sign-up`);
  await page.getByTestId("name-input").fill("Test Subscriber");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill("correct horse battery");
  await page.getByTestId("submit-auth").click();
  await page.waitForURL(`**/${locale}/settings/credits**`);
  return email;
}

/** Subscribe → the first invoice's PaymentIntent in the pay dialog → pay it with `cardNumber`. */
async function subscribe(page: Page, planId: string, cardNumber: string): Promise<void> {
  await page.getByTestId(`subscribe-${planId}`).click();
  await expect(page.getByTestId("pay-dialog")).toBeVisible();
  await page.getByTestId("sandbox-card-number").fill(cardNumber);
  await page.getByTestId("sandbox-pay").click();
}

/** The types of the history's rows, newest first. */
async function historyTypes(page: Page): Promise<string[]> {
  return page
    .getByTestId("transaction-row")
    .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-type") ?? ""));
}

test("a newcomer subscribes to Pro with a test card, sees 1,000 credits, watches a renewal arrive and cancels", async ({
  page,
}) => {
  await signUp(page);
  await expect(page.getByTestId("balance-value")).toHaveText("0");
  // Everyone starts on the free plan, with no subscription to show.
  await expect(page.getByTestId("plan-free")).toHaveAttribute("data-current", "true");
  await expect(page.getByTestId("current-plan")).toHaveCount(0);
  await expect(page.getByTestId("plan-price-pro-monthly")).toHaveText("$19.00");
  await expect(page.getByTestId("plan-pro-monthly")).toContainText("1,000 credits every month");
  await expect(page.getByTestId("plan-rollover-pro-monthly")).toHaveText(
    "Unused credits roll over once, up to 1,000",
  );
  await expect(page.getByTestId("plan-rollover-free")).toHaveText(
    "Unused credits expire at the end of each month",
  );

  await subscribe(page, "pro-monthly", "4242 4242 4242 4242");
  const dialog = page.getByTestId("pay-dialog");
  await expect(dialog).toContainText("Subscribe to Pro");
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await expect(page.getByTestId("payment-success")).toContainText("1,000 credits have been added");
  await page.getByTestId("payment-done").click();
  await expect(dialog).toHaveCount(0);

  await expect(page.getByTestId("balance-value")).toHaveText("1,000");
  const current = page.getByTestId("current-plan");
  await expect(current).toHaveAttribute("data-status", "active");
  await expect(page.getByTestId("current-plan-name")).toHaveText("Pro");
  await expect(page.getByTestId("current-plan-status")).toHaveText("Active");
  await expect(page.getByTestId("current-plan-credits")).toHaveText("1,000");
  await expect(page.getByTestId("plan-pro-monthly")).toHaveAttribute("data-current", "true");
  await expect(page.getByTestId("plan-free")).not.toHaveAttribute("data-current", "true");
  await expect(page.getByTestId("plan-change-note")).toBeVisible();
  // This period's credits: none used yet; up to the cap carries, the rest expires at the period's end.
  await expect(page.getByTestId("period-usage-used")).toHaveText("0 of 1,000 used");
  await expect(page.getByTestId("period-usage-left")).toContainText("1,000 left");
  await expect(page.getByTestId("period-usage-left")).toContainText("up to 1,000 carry into the next period");
  const firstRenewal = (await page.getByTestId("current-plan-renewal").textContent()) ?? "";
  expect(firstRenewal).not.toBe("—");

  const rows = page.getByTestId("transaction-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-type", "subscription");
  await expect(rows.first()).toContainText("Plan credits");
  await expect(rows.first()).toContainText("+1,000");

  // The test clock: the next renewal's credits arrive; the first month's unused 1,000 roll over once.
  await page.getByTestId("advance-renewal").click();
  const result = page.getByTestId("advance-result");
  await expect(result).toHaveAttribute("data-tone", "success");
  await expect(result).toContainText("1,000 credits added");
  await expect(page.getByTestId("balance-value")).toHaveText("2,000");
  await expect(page.getByTestId("current-plan-status")).toHaveText("Active");
  // The new period holds its own 1,000 and the 1,000 carried; only its own can carry again.
  await expect(page.getByTestId("period-usage-used")).toHaveText("0 of 2,000 used");
  await expect(page.getByTestId("period-usage-left")).toContainText("2,000 left");
  // The new period starts where the old one ended.
  await expect(page.getByTestId("current-plan-period")).toContainText(firstRenewal.replace(/, \d{4}$/, ""));
  await expect(page.getByTestId("current-plan-renewal")).not.toHaveText(firstRenewal);
  await expect.poll(() => historyTypes(page)).toEqual(["rollover", "subscription", "expire", "subscription"]);
  await expect(rows.filter({ hasText: "Rolled over" })).toContainText("+1,000");
  await expect(rows.filter({ hasText: "Expired" })).toContainText("-1,000");

  // A reload reads the same state back from the server.
  await page.reload();
  await expect(page.getByTestId("balance-value")).toHaveText("2,000");
  await expect(page.getByTestId("current-plan-status")).toHaveText("Active");

  // Cancel at the period's end, after a confirmation; the plan and its credits stay until then.
  const renewal = (await page.getByTestId("current-plan-renewal").textContent()) ?? "";
  await page.getByTestId("cancel-subscription").click();
  const confirm = page.getByTestId("cancel-dialog");
  await expect(confirm).toContainText("Cancel your Pro plan?");
  await expect(confirm).toContainText(renewal);
  await page.getByTestId("confirm-cancel").click();
  await expect(confirm).toHaveCount(0);
  await expect(page.getByTestId("current-plan-status")).toHaveText(`Ends ${renewal}`);
  await expect(page.getByTestId("current-plan-ending")).toContainText(`Your plan ends on ${renewal}`);
  await expect(page.getByTestId("cancel-subscription")).toHaveCount(0);
  await expect(page.getByTestId("balance-value")).toHaveText("2,000");

  // At the period's end the subscription ends: no invoice, no credits; the user is back on Free.
  await page.getByTestId("advance-renewal").click();
  await expect(current).toHaveAttribute("data-status", "canceled");
  await expect(current).toContainText(`Your Pro plan ended on ${renewal}`);
  await expect(page.getByTestId("plan-free")).toHaveAttribute("data-current", "true");
  await expect(page.getByTestId("advance-renewal")).toHaveCount(0);
  await expect.poll(() => historyTypes(page)).not.toContain("unknown");
  const typesAfterEnd = await historyTypes(page);
  expect(typesAfterEnd.filter((type) => type === "subscription")).toHaveLength(2);
});

// A yearly plan is billed once but granted monthly: the test clock moves a month at a time and says so,
// naming that month (not the year, which was not renewed), in both languages.
for (const locale of ["en", "zh"] as const) {
  test(`the test clock of a yearly plan moves one month and names it (${locale})`, async ({ page }) => {
    await signUp(page, locale);
    await subscribe(page, "pro-yearly", "4242 4242 4242 4242");
    await expect(page.getByTestId("payment-success")).toBeVisible();
    await page.keyboard.press("Escape");
    await expect(page.getByTestId("balance-value")).toHaveText("1,000");
    await page.getByTestId("advance-renewal").click();
    const result = page.getByTestId("advance-result");
    await expect(result).toHaveAttribute("data-tone", "success");
    const before = (MESSAGES[locale].subscription.clockNextMonth as string).split("{period}")[0] ?? "";
    await expect(result).toContainText(before);
    // One month's credits arrived and the first month's carried: the year's were not granted at once.
    await expect(page.getByTestId("balance-value")).toHaveText("2,000");
  });
}

test("a declined card starts no plan and grants nothing; paying again with a good card does", async ({
  page,
}) => {
  await signUp(page);
  await subscribe(page, "pro-monthly", "4000 0000 0000 0002");
  await expect(page.getByTestId("payment-error")).toBeVisible();
  await expect(page.getByTestId("payment-error")).toContainText("Your card was declined");
  await expect(page.getByTestId("payment-success")).toHaveCount(0);
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("pay-dialog")).toHaveCount(0);

  await page.reload();
  await expect(page.getByTestId("balance-value")).toHaveText("0");
  await expect(page.getByTestId("history-empty")).toBeVisible();
  await expect(page.getByTestId("current-plan")).toHaveAttribute("data-status", "incomplete");
  await expect(page.getByTestId("current-plan-status")).toHaveText("Awaiting payment");
  await expect(page.getByTestId("current-plan-incomplete")).toContainText("No credits were added");
  // Still on Free: an unpaid subscription is not a plan, and offers no clock and no cancel.
  await expect(page.getByTestId("plan-free")).toHaveAttribute("data-current", "true");
  await expect(page.getByTestId("advance-renewal")).toHaveCount(0);
  await expect(page.getByTestId("cancel-subscription")).toHaveCount(0);

  // "Complete payment" pays the same subscription's first invoice, not a second subscription.
  await page.getByTestId("complete-payment").click();
  await page.getByTestId("sandbox-card-number").fill("4242 4242 4242 4242");
  await page.getByTestId("sandbox-pay").click();
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("balance-value")).toHaveText("1,000");
  await expect(page.getByTestId("current-plan-status")).toHaveText("Active");
  await expect(page.getByTestId("transaction-row")).toHaveCount(1);
});

for (const locale of ["en", "zh"] as const) {
  for (const [device, viewport, scheme] of [
    ["desktop", { width: 1280, height: 900 }, "light"],
    ["mobile", { width: 390, height: 844 }, locale === "en" ? "dark" : "light"],
  ] as const) {
    const name = `plan-${locale}-${device}${scheme === "dark" ? "-dark" : ""}`;
    test(`screenshot of a subscription on the credits page (${locale}, ${device}, ${scheme})`, async ({
      page,
    }) => {
      const m = MESSAGES[locale];
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize(viewport);
      await signUp(page, locale);
      await subscribe(page, "pro-monthly", "4242424242424242");
      await expect(page.getByTestId("payment-success")).toBeVisible();
      if (device === "desktop") {
        await page.getByTestId("pay-dialog").screenshot({ path: `${SCREENSHOTS}/${name}-paid.png` });
      }
      await page.keyboard.press("Escape");
      await page.getByTestId("advance-renewal").click();
      await expect(page.getByTestId("advance-result")).toHaveAttribute("data-tone", "success");
      await expect(page.getByTestId("balance-value")).toHaveText("2,000");
      await expect(page.getByTestId("current-plan-status")).toHaveText(m.subscription.status.active);
      await expect(page.getByTestId("transaction-row")).toHaveCount(4);
      await expect(page.getByTestId("transaction-row").first()).toContainText(m.transactionTypes.rollover);
      await expect(page.locator("html")).toHaveAttribute("lang", locale);
      if (scheme === "dark") await expect(page.locator("html")).toHaveClass(/\bdark\b/);
      // Let the toasts go, so they do not cover the page in the picture.
      await expect(page.locator("[data-sonner-toast]")).toHaveCount(0, { timeout: 15_000 });
      // From the top: the sticky header would otherwise be pictured where the page was scrolled to.
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
    });
  }
}

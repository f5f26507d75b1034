import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { expect, type Page, test } from "@playwright/test";

const SCREENSHOTS = "test-results/screenshots";

async function signUp(page: Page, locale: "en" | "zh" = "en"): Promise<string> {
  const email = `buyer-${randomUUID().slice(0, 8)}@example.test`;
  await page.goto(`/${locale}/sign-up`);
  await page.getByTestId("name-input").fill("Test Buyer");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill("correct horse battery");
  await page.getByTestId("submit-auth").click();
  await page.waitForURL(`**/${locale}/settings/credits**`);
  return email;
}

async function buy(page: Page, packageId: string, cardNumber: string): Promise<void> {
  await page.getByTestId(`buy-${packageId}`).click();
  await page.getByTestId("sandbox-card-number").fill(cardNumber);
  await page.getByTestId("sandbox-pay").click();
}

test("a new user buys Standard in the sandbox and sees the credits and the history", async ({ page }) => {
  await signUp(page);
  await expect(page.getByTestId("balance-value")).toHaveText("0");
  await expect(page.getByTestId("package-standard")).toBeVisible();

  await buy(page, "standard", "4242 4242 4242 4242");
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await page.keyboard.press("Escape");

  await expect(page.getByTestId("balance-value")).toHaveText("500");
  await expect(page.getByTestId("header-balance")).toContainText("500");
  const rows = page.getByTestId("transaction-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("+500");

  // A reload reads the same state back from the server: the credits are in the ledger, not only in the page.
  await page.reload();
  await expect(page.getByTestId("balance-value")).toHaveText("500");
  await expect(page.getByTestId("transaction-row")).toHaveCount(1);
});

test("a declined card shows an error and adds nothing", async ({ page }) => {
  await signUp(page);
  await buy(page, "basic", "4000 0000 0000 0002");
  await expect(page.getByTestId("payment-error")).toBeVisible();
  await expect(page.getByTestId("payment-success")).toHaveCount(0);
  await page.keyboard.press("Escape");
  await page.getByTestId("refresh-balance").click();
  await expect(page.getByTestId("balance-value")).toHaveText("0");
  await expect(page.getByTestId("transaction-row")).toHaveCount(0);
});

test("insufficient funds is reported and adds nothing", async ({ page }) => {
  await signUp(page);
  await buy(page, "basic", "4000 0000 0000 9995");
  await expect(page.getByTestId("payment-error")).toBeVisible();
  await page.keyboard.press("Escape");
  await page.reload();
  await expect(page.getByTestId("balance-value")).toHaveText("0");
});

test("buying too often is refused in the reader's language, with a retry and no pay dialog", async ({
  page,
}) => {
  const zh = JSON.parse(fs.readFileSync("messages/zh.json", "utf8"));
  await signUp(page, "zh");
  // The server's limit: RATE_LIMIT_PURCHASES_PER_MINUTE, 10 by default.
  for (let i = 0; i < 10; i++) {
    await page.getByTestId("buy-basic").click();
    await expect(page.getByTestId("sandbox-form")).toBeVisible();
    await page.keyboard.press("Escape");
    await expect(page.getByTestId("pay-dialog")).toHaveCount(0);
  }

  const answer = page.waitForResponse(
    (response) => response.url().endsWith("/api/credits/purchases") && response.request().method() === "POST",
  );
  await page.getByTestId("buy-basic").click();
  expect((await answer).status()).toBe(429);
  await expect(page.getByText(zh.credits.buyErrorRateLimited)).toBeVisible();
  await expect(page.getByRole("button", { name: zh.common.tryAgain })).toBeVisible();
  await expect(page.getByTestId("pay-dialog")).toHaveCount(0);
});

test("the credits page redirects a signed-out visitor to sign in", async ({ page }) => {
  await page.goto("/en/settings/credits");
  await page.waitForURL("**/en/sign-in**");
  await expect(page.getByTestId("email-input")).toBeVisible();
});

for (const locale of ["en", "zh"] as const) {
  for (const [device, viewport] of [
    ["desktop", { width: 1280, height: 900 }],
    ["mobile", { width: 390, height: 844 }],
  ] as const) {
    test(`screenshot of the credits page (${locale}, ${device})`, async ({ page }) => {
      await page.setViewportSize(viewport);
      await signUp(page, locale);
      await buy(page, "standard", "4242424242424242");
      await expect(page.getByTestId("payment-success")).toBeVisible();
      await page.keyboard.press("Escape");
      await expect(page.getByTestId("balance-value")).toHaveText("500");
      await expect(page.getByTestId("transaction-row").first()).toBeVisible();
      await expect(page.locator("html")).toHaveAttribute("lang", locale);
      await page.screenshot({ path: `${SCREENSHOTS}/credits-${locale}-${device}.png`, fullPage: true });
    });
  }
}

test("the landing page shows the packages with prices in both locales", async ({ page }) => {
  await page.goto("/en");
  await expect(page.getByTestId("package-standard")).toContainText("$39.99");
  await page.screenshot({ path: `${SCREENSHOTS}/landing-en-desktop.png`, fullPage: true });
  await page.goto("/zh");
  await expect(page.getByTestId("package-standard")).toContainText("US$39.99");
  await page.screenshot({ path: `${SCREENSHOTS}/landing-zh-desktop.png`, fullPage: true });
});

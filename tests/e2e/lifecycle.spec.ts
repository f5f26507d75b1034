import { randomUUID } from "node:crypto";
import { expect, type Page, test } from "@playwright/test";
import { COST_CATALOG } from "../../src/features/cost-catalog";

const SCREENSHOTS = "test-results/screenshots";
const COST = COST_CATALOG["image.generate"].credits;

async function signUp(page: Page, locale: "en" | "zh" = "en"): Promise<string> {
  const email = `spender-${randomUUID().slice(0, 8)}@example.test`;
  await page.goto(`/${locale}/sign-up`);
  await page.getByTestId("name-input").fill("Test Spender");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill("correct horse battery");
  await page.getByTestId("submit-auth").click();
  await page.waitForURL(`**/${locale}/settings/credits**`);
  return email;
}

async function buy(page: Page, packageId: string): Promise<void> {
  await page.getByTestId(`buy-${packageId}`).click();
  await page.getByTestId("sandbox-card-number").fill("4242 4242 4242 4242");
  await page.getByTestId("sandbox-pay").click();
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await page.keyboard.press("Escape");
}

/** Generates through the page, which calls POST /api/features/generate-image; returns that answer's status. */
async function generate(page: Page, prompt: string): Promise<number> {
  await page.getByTestId("prompt-input").fill(prompt);
  const answer = page.waitForResponse(
    (response) =>
      response.url().endsWith("/api/features/generate-image") && response.request().method() === "POST",
  );
  await page.getByTestId("generate-button").click();
  return (await answer).status();
}

test("a buyer spends credits on an image: the balance drops by the cost and the history shows the spend", async ({
  page,
}) => {
  await signUp(page);
  // Unverified users are told how to get the welcome gift.
  await expect(page.getByTestId("verify-email-notice")).toBeVisible();
  await buy(page, "standard");
  await expect(page.getByTestId("balance-value")).toHaveText("500");

  await page.goto("/en/generate");
  await expect(page.getByTestId("feature-cost")).toContainText(`Costs ${COST} credits`);
  await expect(page.getByTestId("feature-balance")).toHaveText("500");
  expect(await generate(page, "A lighthouse on a cliff at sunset")).toBe(200);

  const image = page.getByTestId("generated-image");
  await expect(image).toBeVisible();
  await expect(image).toHaveAttribute("src", /^data:image\/svg\+xml;utf8,/);
  await expect(page.getByTestId("feature-balance")).toHaveText(String(500 - COST));
  await expect(page.getByTestId("header-balance")).toContainText(String(500 - COST));

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Credits" }).click();
  await page.waitForURL("**/en/settings/credits");
  await expect(page.getByTestId("balance-value")).toHaveText(String(500 - COST));
  const rows = page.getByTestId("transaction-row");
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toHaveAttribute("data-type", "consume");
  await expect(rows.first()).toContainText(`-${COST}`);
  await expect(rows.first()).toContainText("Generate image");
  await expect(rows.nth(1)).toContainText("Purchased Standard package");

  // The ledger, not the page, holds the spend.
  await page.reload();
  await expect(page.getByTestId("balance-value")).toHaveText(String(500 - COST));
});

test("with 0 credits the feature explains why and links to buying credits; nothing is charged", async ({
  page,
}) => {
  await signUp(page);
  await page.goto("/en/generate");
  await expect(page.getByTestId("feature-balance")).toHaveText("0");
  expect(await generate(page, "Neon city at night")).toBe(402);

  const message = page.getByTestId("insufficient-credits");
  await expect(message).toBeVisible();
  await expect(message).toContainText(`costs ${COST} credits`);
  await expect(page.getByTestId("generated-image")).toHaveCount(0);

  await message.getByRole("link", { name: "Buy credits" }).click();
  await page.waitForURL("**/en/settings/credits");
  await expect(page.getByTestId("balance-value")).toHaveText("0");
  await expect(page.getByTestId("history-empty")).toBeVisible();
});

test("the generate page redirects a signed-out visitor to sign in", async ({ page }) => {
  await page.goto("/en/generate");
  await page.waitForURL("**/en/sign-in?next=%2Fen%2Fgenerate");
  await expect(page.getByTestId("email-input")).toBeVisible();
});

test("screenshots of the generate page (en and zh, desktop and mobile)", async ({ page }) => {
  await signUp(page);
  await buy(page, "basic");
  for (const locale of ["en", "zh"] as const) {
    for (const [device, viewport] of [
      ["desktop", { width: 1280, height: 900 }],
      ["mobile", { width: 390, height: 844 }],
    ] as const) {
      await page.setViewportSize(viewport);
      await page.goto(`/${locale}/generate`);
      await expect(page.locator("html")).toHaveAttribute("lang", locale);
      await generate(page, "A lighthouse on a cliff at sunset");
      await expect(page.getByTestId("generated-image")).toBeVisible();
      await page.screenshot({ path: `${SCREENSHOTS}/generate-${locale}-${device}.png`, fullPage: true });
    }
  }
});

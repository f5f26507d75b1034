import { randomUUID } from "node:crypto";
import { type BrowserContext, expect, type Page, test } from "@playwright/test";
import { COST_CATALOG } from "../../src/features/cost-catalog";
import { buyPackage, signUpCustomer } from "./support/customer";
import { SCREENSHOT_CONTEXT, screenshotInThemes, waitForHydration } from "./support/screenshots";

/**
 * Auto top-up as a new user tries it (issue 11): save the sandbox's test card through the Save a card
 * dialog (a SetupIntent), turn auto top-up on for Basic below a threshold, then spend across the threshold
 * with concurrent requests: exactly one top-up is bought and its credits land once.
 */
const COST = COST_CATALOG["image.generate"].credits;
const BASIC = 100;
const THRESHOLD = 50;
/** Spends sent at once: together they take the balance from 100 well below the threshold, never below 0. */
const SPENDS = Math.floor((BASIC - 1) / COST);

test.describe.configure({ mode: "serial" });

let context: BrowserContext;
let page: Page;

test.beforeAll(async ({ browser }) => {
  context = await browser.newContext(SCREENSHOT_CONTEXT);
  page = await context.newPage();
});

test.afterAll(async () => {
  await context.close();
});

const card = () => page.getByRole("region", { name: "Auto top-up" });

test("a saved test card and concurrent spends across the threshold buy exactly one top-up", async () => {
  await signUpCustomer(page, "auto-top-up");
  await buyPackage(page, "basic", BASIC);

  // Turning it on without a card is refused with the reason.
  await waitForHydration(card().getByRole("switch", { name: "Turn on auto top-up" }));
  await card().getByRole("switch", { name: "Turn on auto top-up" }).check();
  await card().getByRole("button", { name: "Save auto top-up" }).click();
  await expect(card().getByRole("alert")).toHaveText("Save a card before turning auto top-up on.");

  // Save the card through the dialog (the sandbox's SetupIntent); only its brand and last four are shown.
  await card().getByRole("button", { name: "Save a card" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Card number").fill("4242 4242 4242 4242");
  await dialog.getByRole("button", { name: "Save card" }).click();
  await expect(dialog).toHaveCount(0);
  await expect(card()).toContainText(/ending in 4242/);

  // On, for Basic, below 50 credits, up to $20 a month.
  await card().getByLabel("Package to buy").selectOption("basic");
  await card().getByLabel("When my balance falls below (credits)").fill(String(THRESHOLD));
  await card().getByLabel("Monthly limit (USD)").fill("20");
  await card().getByRole("switch", { name: "Turn on auto top-up" }).check();
  await card().getByRole("button", { name: "Save auto top-up" }).click();
  await expect(card()).toContainText(
    `On: when your balance falls below ${THRESHOLD} credits, Basic is bought`,
  );

  // Concurrent spends through the feature's API, as several tabs or a script would send them.
  const answers = await Promise.all(
    Array.from({ length: SPENDS }, (_, index) =>
      page.request.post("/api/features/generate-image", {
        data: { prompt: `Concurrent spend ${index}`, requestId: randomUUID() },
      }),
    ),
  );
  expect(answers.map((answer) => answer.status())).toEqual(Array(SPENDS).fill(200));

  // One top-up: Basic's credits land once, whatever the order of the spends.
  const expected = BASIC - SPENDS * COST + BASIC;
  await expect
    .poll(
      async () => {
        await page.reload();
        return page.getByTestId("balance-value").textContent();
      },
      { timeout: 60_000, intervals: [2_000] },
    )
    .toBe(String(expected));
  await expect(card().getByRole("listitem")).toHaveCount(1);
  await expect(card().getByRole("listitem")).toContainText("Paid");
  await expect(card()).toContainText("This month: $9.99 of $20.00");
  // The history filtered to purchases: the package bought by hand and the one top-up, nothing more.
  const history = await page.request.get("/api/credits/transactions?type=purchase");
  const purchases = ((await history.json()) as { items: { amount: number }[] }).items;
  expect(purchases.map((entry) => entry.amount)).toEqual([BASIC, BASIC]);

  await screenshotInThemes(card(), "auto-top-up-en");
  await page.goto("/zh/settings/credits");
  await expect(page.getByRole("region", { name: "自动充值" })).toContainText("4242");
  await screenshotInThemes(page.getByRole("region", { name: "自动充值" }), "auto-top-up-zh");
});

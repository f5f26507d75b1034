import fs from "node:fs";
import { type BrowserContext, expect, type Page, test } from "@playwright/test";
import { COST_CATALOG } from "../../src/features/cost-catalog";
import { signInAsAdmin } from "./support/admin";
import { buyPackage, exportHistory, localDay, signUpCustomer } from "./support/customer";
import { messagesTo } from "./support/inbox";
import { SCREENSHOT_CONTEXT, screenshotInThemes, waitForHydration } from "./support/screenshots";

/**
 * What a user sees of their own credits (issue 11): the usage charts move after a spend, the history's
 * filter is what the CSV export holds, and a low-balance alert emails once per crossing and shows a banner.
 * One user goes through the file in order (serial), so each test starts from the balance the last left.
 */
const COST = COST_CATALOG["image.generate"].credits;
const ALERT_SUBJECT = "Your credit balance is low";
const THRESHOLD = 90;
const en = JSON.parse(fs.readFileSync("messages/en.json", "utf8"));
const zh = JSON.parse(fs.readFileSync("messages/zh.json", "utf8"));

test.describe.configure({ mode: "serial" });

let context: BrowserContext;
/** The credits page. */
let page: Page;
/** The image feature, in a second tab of the same session. */
let feature: Page;
let email: string;
/** An operator, signed in by the re-arm test. */
let admin: Page;

test.beforeAll(async ({ browser }) => {
  context = await browser.newContext(SCREENSHOT_CONTEXT);
  page = await context.newPage();
  feature = await context.newPage();
});

test.afterAll(async () => {
  await context.close();
  await admin?.context().close();
});

const banner = () => page.getByTestId("low-balance-banner");

/** Spends once through the image feature's page; the page shows the balance the spend left. */
async function spend(balanceAfter: number): Promise<void> {
  if (!feature.url().endsWith("/en/generate")) await feature.goto("/en/generate");
  await feature.getByTestId("prompt-input").fill(`A lighthouse, balance ${balanceAfter}`);
  await feature.getByTestId("generate-button").click();
  await expect(feature.getByTestId("feature-balance")).toHaveText(String(balanceAfter));
}

async function lowBalanceEmails(): Promise<{ subject: string; text: string }[]> {
  return (await messagesTo(email)).filter((message) => message.subject === ALERT_SUBJECT);
}

test("a spend in the sandbox moves the usage charts", async () => {
  email = await signUpCustomer(page, "insight");
  await buyPackage(page, "basic", 100);
  await page.reload();
  const usage = page.getByTestId("usage-analytics");
  await expect(usage.getByTestId("usage-spent")).toContainText("No credits spent in the last 30 days.");
  await expect(usage.getByTestId("usage-forecast-headline")).toHaveText("No spending in the last 14 days.");
  await expect(usage.getByTestId("usage-balance")).toContainText(/0 credits on .+, 100 credits on /);

  await spend(100 - COST);
  await spend(100 - 2 * COST);
  const spent = 2 * COST;
  const left = 100 - spent;

  await page.reload();
  const spentCard = usage.getByTestId("usage-spent");
  await expect(spentCard).toContainText(`${spent} credits spent from`);
  // The chart is one image whose name sums it up, drawn with a bar for today.
  await expect(spentCard.getByRole("img", { name: new RegExp(`${spent} credits in total`) })).toBeVisible();
  await expect(spentCard.getByTestId("usage-spent-chart").locator(".recharts-bar-rectangle")).not.toHaveCount(
    0,
  );
  await expect(spentCard.getByRole("list", { name: "Features" })).toHaveText(`Generate image${spent}`);
  await expect(usage.getByTestId("usage-forecast-headline")).toContainText(
    "At your last 14 days' pace, your credits last until",
  );
  await expect(usage.getByTestId("usage-forecast")).toContainText(
    `${spent} credits spent in the last 14 days; ${left} credits available now.`,
  );
  await expect(usage.getByTestId("usage-balance")).toContainText(new RegExp(`, ${left} credits on `));
  await expect(usage.getByTestId("usage-balance-chart")).toBeVisible();

  // Another range asks the server again and still holds today's spend.
  await usage.getByTestId("usage-range-7").click();
  await expect(usage.getByTestId("usage-range-7")).toHaveAttribute("aria-pressed", "true");
  await expect(spentCard.getByRole("img", { name: new RegExp(`${spent} credits in total`) })).toBeVisible();
});

test("screenshots of the usage charts (en and zh, light and dark)", async () => {
  const spent = 2 * COST;
  for (const locale of ["en", "zh"] as const) {
    await page.goto(`/${locale}/settings/credits`);
    await expect(page.locator("html")).toHaveAttribute("lang", locale);
    const card = page.getByTestId("usage-spent");
    await expect(card).toContainText(locale === "en" ? `${spent} credits spent` : `共消费 ${spent} 积分`);
    await expect(card.locator(".recharts-bar-rectangle")).not.toHaveCount(0);
    await screenshotInThemes(page.getByTestId("usage-analytics"), `credits-usage-${locale}`);
  }
});

test("the history filtered to spends exports exactly those entries as CSV", async () => {
  await page.goto("/en/settings/credits");
  const rows = page.getByTestId("transaction-row");
  await expect(rows).toHaveCount(3);

  await page.getByTestId("history-filter-type").selectOption("consume");
  await expect(rows).toHaveCount(2);
  await expect(page).toHaveURL(/[?&]type=consume\b/);
  const spends = await exportHistory(page);
  expect(spends.fileName).toMatch(/\.csv$/);
  expect(spends.header).toEqual([
    "id",
    "created_at",
    "type",
    "amount",
    "balance_after",
    "feature",
    "description",
    "idempotency_key",
    "reference",
  ]);
  expect(
    spends.records.map(({ type, amount, balance_after, feature }) => ({
      type,
      amount,
      balance_after,
      feature,
    })),
  ).toEqual([
    { type: "consume", amount: `-${COST}`, balance_after: String(100 - 2 * COST), feature: "image.generate" },
    { type: "consume", amount: `-${COST}`, balance_after: String(100 - COST), feature: "image.generate" },
  ]);

  // The filter is kept in the address: a reload shows (and exports) the same.
  await page.reload();
  await expect(page.getByTestId("history-filter-type")).toHaveValue("consume");
  await expect(rows).toHaveCount(2);

  // Searching the descriptions instead: only the purchase mentions the package.
  await page.getByTestId("history-filter-type").selectOption("");
  await page.getByTestId("history-filter-search").fill("Basic");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-type", "purchase");
  const purchases = await exportHistory(page);
  expect(purchases.records.map(({ type, amount }) => ({ type, amount }))).toEqual([
    { type: "purchase", amount: "100" },
  ]);

  // A range that ended yesterday holds nothing, on the page and in the file.
  await page.getByTestId("history-filter-clear").click();
  await expect(rows).toHaveCount(3);
  await page.getByTestId("history-filter-to").fill(localDay(-1));
  await expect(page.getByTestId("history-empty")).toContainText(en.credits.historyNoMatchTitle);
  const none = await exportHistory(page);
  expect(none.header).toContain("balance_after");
  expect(none.records).toEqual([]);
});

test("crossing the alert threshold sends one email and shows the banner; spending further keeps it", async () => {
  let balance = 100 - 2 * COST;
  await page.goto("/en/settings/credits");
  await waitForHydration(page.getByTestId("low-balance-mode"));
  await page.getByTestId("low-balance-mode").selectOption("credits");
  await page.getByTestId("low-balance-value").fill(String(THRESHOLD));
  await page.getByTestId("low-balance-save").click();
  await expect(page.getByTestId("low-balance-summary")).toHaveText(
    `Saved. You are alerted when your balance falls below ${THRESHOLD} credits.`,
  );
  // At the threshold is not below it: no banner, no email.
  expect(balance).toBe(THRESHOLD);
  await expect(banner()).toHaveCount(0);

  balance -= COST;
  await spend(balance);
  await page.reload();
  await expect(banner()).toContainText(`It fell below your alert threshold of ${THRESHOLD} credits.`);
  await expect.poll(lowBalanceEmails, { message: "the low-balance email" }).toHaveLength(1);
  const [first] = await lowBalanceEmails();
  expect(first?.text).toContain(
    `Your available balance is ${balance} credits, below the alert threshold of ${THRESHOLD} credits you set.`,
  );

  // Further below without coming back up: still low; that no second email follows is checked in the
  // next test, once a later email has come through the same outbox.
  balance -= COST;
  await spend(balance);
  await page.reload();
  await expect(banner()).toBeVisible();

  for (const locale of ["en", "zh"] as const) {
    await page.goto(`/${locale}/settings/credits`);
    await expect(banner()).toContainText(
      locale === "en"
        ? `alert threshold of ${THRESHOLD} credits`
        : zh.credits.lowBalanceBannerText.replace("{threshold}", String(THRESHOLD)),
    );
    await screenshotInThemes(
      page.locator('[data-slot="card"]').filter({ has: banner() }),
      `low-balance-banner-${locale}`,
    );
  }
});

test("back at the threshold the alert re-arms: the next crossing emails again, the spend that stayed below sent none", async ({
  browser,
}) => {
  const stayedBelow = THRESHOLD - 2 * COST;
  // An operator's grant brings the balance back to the threshold: the alert re-arms and the banner goes.
  admin = await (await browser.newContext()).newPage();
  await signInAsAdmin(admin);
  await admin.goto(`/en/admin?q=${encodeURIComponent(email)}`);
  await admin.getByTestId("admin-user-link").click();
  await expect(admin.getByTestId("admin-available")).toHaveText(String(stayedBelow));
  await admin.getByTestId("adjust-amount").fill(String(THRESHOLD - stayedBelow));
  await admin.getByTestId("adjust-reason").fill("Back to the alert threshold");
  await admin.getByTestId("adjust-submit").click();
  await expect(admin.getByTestId("admin-available")).toHaveText(String(THRESHOLD));
  await page.goto("/en/settings/credits");
  await expect(page.getByTestId("balance-value")).toHaveText(String(THRESHOLD));
  await expect(banner()).toHaveCount(0);

  // The next crossing emails again. The outbox sends in order, so by the time this email is in, one
  // for the spend that stayed below would be too.
  await spend(THRESHOLD - COST);
  await expect.poll(lowBalanceEmails, { message: "the second crossing's email" }).toHaveLength(2);
  const emails = await lowBalanceEmails();
  expect(emails.map((message) => message.text.match(/balance is (\d+) credits/)?.[1])).toEqual([
    String(THRESHOLD - COST),
    String(THRESHOLD - COST),
  ]);
  expect(emails.some((message) => message.text.includes(`is ${stayedBelow} credits`))).toBe(false);
  await page.reload();
  await expect(banner()).toBeVisible();
});

test("an operator's export of the user's history holds what its filter shows", async () => {
  await admin.reload();
  const history = admin.getByTestId("admin-user-history");
  const rows = history.getByTestId("transaction-row");
  // Everything first (the rows come from the browser's own fetch, so the filter is live by then): the
  // purchase, the operator's grant and five spends.
  await expect(rows).toHaveCount(7);
  const all = await exportHistory(admin, history);
  expect(all.records.map((record) => record.type).sort()).toEqual(
    ["consume", "consume", "consume", "consume", "consume", "grant", "purchase"].sort(),
  );

  await history.getByTestId("history-filter-type").selectOption("consume");
  await expect(rows).toHaveCount(5);
  const spends = await exportHistory(admin, history);
  expect(spends.records.map((record) => [record.type, record.balance_after])).toEqual(
    [THRESHOLD - COST, THRESHOLD - 2 * COST, THRESHOLD - COST, 100 - 2 * COST, 100 - COST].map((balance) => [
      "consume",
      String(balance),
    ]),
  );
});

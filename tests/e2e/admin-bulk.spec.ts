import { randomUUID } from "node:crypto";
import { type Browser, expect, type Page, test } from "@playwright/test";
import { ADMIN_EMAIL, signInAsAdmin } from "./support/admin";
import { buyPackage, signUpCustomer } from "./support/customer";
import { SCREENSHOT_CONTEXT, screenshotInThemes, waitForHydration } from "./support/screenshots";

/**
 * An operator's bulk grants and revokes (issue 11): a CSV with good and bad rows is previewed with every
 * bad row and its reason, applied in the background with a progress bar, and uploading it again applies
 * nothing; the overview's liability moves by exactly what the test sold, granted and revoked. The tests
 * share one operator and two customers and run in order (serial).
 */
test.describe.configure({ mode: "serial" });

const TAG = randomUUID().slice(0, 8);
const FILE_NAME = `credits-${TAG}.csv`;

let admin: Page;
let alice: Page;
let bob: Page;
let aliceEmail: string;
let bobEmail: string;
let batchUrl: string;
let before: OverviewFigures;

async function newPage(browser: Browser): Promise<Page> {
  return (await browser.newContext(SCREENSHOT_CONTEXT)).newPage();
}

type OverviewFigures = Record<
  "sold" | "granted" | "consumed" | "paid" | "promotional" | "held" | "total",
  number
>;

/** The overview's figures over the last 30 days (the liability is always as of now), as numbers. */
async function readOverview(page: Page): Promise<OverviewFigures> {
  await page.goto("/en/admin/overview?days=30");
  const read = async (testId: string) =>
    Number((await page.getByTestId(testId).innerText()).replace(/[^\d-]/g, ""));
  return {
    sold: await read("overview-sold"),
    granted: await read("overview-granted"),
    consumed: await read("overview-consumed"),
    paid: await read("overview-outstanding-paid"),
    promotional: await read("overview-outstanding-promotional"),
    held: await read("overview-outstanding-held"),
    total: await read("overview-outstanding-total"),
  };
}

/** A figure of the batch page's summary ("Rows", "Good rows", ...). */
function batchFigure(page: Page, label: string) {
  return page
    .locator("dl > div")
    .filter({ has: page.locator("dt", { hasText: new RegExp(`^${label}$`) }) })
    .locator("dd");
}

async function uploadCsv(page: Page, csv: string): Promise<void> {
  await page.goto("/en/admin/bulk");
  await waitForHydration(page.getByTestId("bulk-upload"));
  await page.getByLabel("CSV file").setInputFiles({
    name: FILE_NAME,
    mimeType: "text/csv",
    buffer: Buffer.from(csv, "utf8"),
  });
  await page.getByTestId("bulk-upload").click();
  await page.waitForURL(/\/en\/admin\/bulk\/[^/?]+/);
}

async function expectBalance(page: Page, credits: number): Promise<void> {
  await page.reload();
  await expect(page.getByTestId("balance-value")).toHaveText(String(credits));
}

test.beforeAll(async ({ browser }) => {
  admin = await newPage(browser);
  await signInAsAdmin(admin);
  before = await readOverview(admin);
  alice = await newPage(browser);
  bob = await newPage(browser);
});

test.afterAll(async () => {
  for (const page of [admin, alice, bob]) await page?.context().close();
});

function bulkFile(): string {
  return [
    "email,amount,expires,reason",
    `${aliceEmail},50,,Welcome bonus ${TAG}`,
    `${bobEmail},30,30,Spring promotion ${TAG}`,
    `nobody-${TAG}@example.test,10,,Welcome bonus ${TAG}`,
    `${aliceEmail},fifty,,Welcome bonus ${TAG}`,
    `${bobEmail},30,30,Spring promotion ${TAG}`,
    `${bobEmail},-500,,Correction ${TAG}`,
    `${aliceEmail},-20,,Correction ${TAG}`,
    "",
  ].join("\n");
}

test("an uploaded CSV is previewed: every failing row is listed with its reason and nothing is applied yet", async () => {
  aliceEmail = await signUpCustomer(alice, "bulk-alice");
  await buyPackage(alice, "basic", 100);
  bobEmail = await signUpCustomer(bob, "bulk-bob");

  await uploadCsv(admin, bulkFile());
  batchUrl = new URL(admin.url()).pathname;
  await expect(admin.getByText(`Batch ${FILE_NAME}`, { exact: true })).toBeVisible();
  await expect(batchFigure(admin, "Rows")).toHaveText("7");
  await expect(batchFigure(admin, "Good rows")).toHaveText("3");
  await expect(batchFigure(admin, "Failed rows")).toHaveText("4");
  await expect(batchFigure(admin, "Credits granted")).toHaveText("80");
  await expect(batchFigure(admin, "Credits revoked")).toHaveText("20");

  const failed = admin.getByTestId("bulk-failed-rows").locator("tbody tr");
  await expect(failed).toHaveCount(4);
  const reasons = await failed.evaluateAll((rows) =>
    rows.map((row) => {
      const cells = [...row.querySelectorAll("td")].map((cell) => cell.textContent?.trim() ?? "");
      return { row: cells[0], account: cells[1], why: cells.at(-1) };
    }),
  );
  expect(reasons).toEqual([
    { row: "3", account: `nobody-${TAG}@example.test`, why: "No such account" },
    { row: "4", account: aliceEmail, why: "The amount must be a whole, non-zero number of credits" },
    { row: "5", account: bobEmail, why: "Repeats an earlier row" },
    { row: "6", account: bobEmail, why: "Revokes more than the account has available" },
  ]);
  await expect(admin.getByTestId("bulk-apply")).toHaveText("Apply 3 rows");

  // A preview moves no credits.
  await expectBalance(alice, 100);
  await expectBalance(bob, 0);

  for (const locale of ["en", "zh"] as const) {
    await admin.goto(`/${locale}${batchUrl.replace(/^\/en/, "")}`);
    await expect(admin.locator("html")).toHaveAttribute("lang", locale);
    await expect(admin.getByTestId("bulk-failed-rows").locator("tbody tr")).toHaveCount(4);
    await screenshotInThemes(admin.locator("main"), `admin-bulk-preview-${locale}`);
  }
});

test("applying runs in the background to the end; each good row moves a balance once; the same file again applies nothing", async () => {
  await admin.goto(batchUrl);
  await waitForHydration(admin.getByTestId("bulk-apply"));
  await admin.getByTestId("bulk-apply").click();
  const progress = admin.getByTestId("bulk-progress");
  await expect(progress).toBeVisible();
  await expect(progress).toHaveAttribute("aria-valuenow", "3");
  await expect(progress).toHaveAttribute("aria-valuetext", "3 of 3 rows");
  await expect(admin.getByText("Done · 3 of 3 rows")).toBeVisible();

  // Alice: 100 bought + 50 granted - 20 revoked; Bob: 30 granted (his too-large revoke was refused).
  await expectBalance(alice, 130);
  await expectBalance(bob, 30);
  await expect(alice.getByTestId("transaction-row").first()).toContainText(`Correction ${TAG}`);
  await expect(bob.getByTestId("transaction-row")).toHaveCount(1);
  await expect(bob.getByTestId("transaction-row").first()).toContainText(`Spring promotion ${TAG}`);

  // Every row of the file is in the audit log with the batch and the operator: the good rows as the
  // grants and the deduction they made, the bad rows as refused, and the apply itself.
  await admin.goto("/en/admin/audit");
  const batchId = batchUrl.split("/").at(-1) as string;
  const audited = admin.getByTestId("audit-row").filter({ hasText: batchId });
  await expect(audited).toHaveCount(8);
  await expect(audited.filter({ hasText: ADMIN_EMAIL })).toHaveCount(8);
  const actions = await audited.evaluateAll((rows) => rows.map((row) => row.getAttribute("data-action")));
  expect(actions.sort()).toEqual([
    "credits.bulk_apply",
    "credits.bulk_row_refused",
    "credits.bulk_row_refused",
    "credits.bulk_row_refused",
    "credits.bulk_row_refused",
    "credits.deduct",
    "credits.grant",
    "credits.grant",
  ]);

  // The same bytes again: the page says so and opens the applied batch, with nothing left to apply.
  await uploadCsv(admin, bulkFile());
  expect(new URL(admin.url()).pathname).toBe(batchUrl);
  await expect(admin).toHaveURL(/[?&]existing=1/);
  await expect(
    admin.getByRole("status").filter({ hasText: "These rows were uploaded before" }),
  ).toBeVisible();
  await expect(admin.getByTestId("bulk-apply")).toHaveCount(0);
  await expect(admin.getByText("Done · 3 of 3 rows")).toBeVisible();
  await admin.goto("/en/admin/bulk");
  await expect(admin.getByTestId("bulk-batches").getByRole("row").filter({ hasText: FILE_NAME })).toHaveCount(
    1,
  );
  await expectBalance(alice, 130);
  await expectBalance(bob, 30);
});

test("the overview's liability moves by exactly what was sold, granted and revoked", async () => {
  const after = await readOverview(admin);
  // Sold: Alice's Basic package. Granted: the two good grant rows. Consumed: the revoke, which draws
  // from the lot that expires first (her purchase; src/credits/sql/draw-from-lots.sql), so paid credits.
  expect({
    sold: after.sold - before.sold,
    granted: after.granted - before.granted,
    consumed: after.consumed - before.consumed,
    paid: after.paid - before.paid,
    promotional: after.promotional - before.promotional,
    held: after.held - before.held,
    total: after.total - before.total,
  }).toEqual({ sold: 100, granted: 80, consumed: 20, paid: 80, promotional: 80, held: 0, total: 160 });

  for (const locale of ["en", "zh"] as const) {
    await admin.goto(`/${locale}/admin/overview?days=30`);
    await expect(admin.getByTestId("overview-outstanding-total")).toHaveText(
      new Intl.NumberFormat(locale === "en" ? "en-US" : "zh-CN").format(after.total),
    );
    await expect(admin.getByTestId("overview-daily").locator(".recharts-bar-rectangle")).not.toHaveCount(0);
    await screenshotInThemes(admin.locator("main"), `admin-overview-${locale}`);
  }
});

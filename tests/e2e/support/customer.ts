import { randomUUID } from "node:crypto";
import { type Download, expect, type Page } from "@playwright/test";
import { parse } from "csv-parse/sync";
import { PASSWORD } from "./admin";

/** Signs a new user up (address unverified, so no welcome gift: the balance starts at 0); returns the address. */
export async function signUpCustomer(
  page: Page,
  prefix: string,
  locale: "en" | "zh" = "en",
): Promise<string> {
  const email = `${prefix}-${randomUUID().slice(0, 8)}@example.test`;
  await page.goto(`/${locale}/sign-up`);
  await page.getByTestId("name-input").fill("Test Customer");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-auth").click();
  await page.waitForURL(`**/${locale}/settings/credits**`);
  await expect(page.getByTestId("balance-value")).toHaveText("0");
  return email;
}

/** Buys a package on the credits page with the sandbox's test card that succeeds. */
export async function buyPackage(page: Page, packageId: string, balanceAfter: number): Promise<void> {
  await page.getByTestId(`buy-${packageId}`).click();
  await page.getByTestId("sandbox-card-number").fill("4242 4242 4242 4242");
  await page.getByTestId("sandbox-pay").click();
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("balance-value")).toHaveText(String(balanceAfter));
}

/** Clicks a history's "Export CSV" link and parses the file the browser saved: one record per data line. */
export async function exportHistory(page: Page, scope: Page | ReturnType<Page["locator"]> = page) {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    scope.getByTestId("history-export").click(),
  ]);
  return parseDownload(download);
}

async function parseDownload(download: Download) {
  const chunks: Buffer[] = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  const lines = parse(text, { bom: true }) as string[][];
  const [header = [], ...rows] = lines;
  return {
    fileName: download.suggestedFilename(),
    header,
    records: rows.map((row) => Object.fromEntries(header.map((name, index) => [name, row[index] ?? ""]))),
  };
}

/** The calendar day `offset` days from today in this machine's zone (the browser's), as `YYYY-MM-DD`. */
export function localDay(offset = 0): string {
  const date = new Date();
  date.setDate(date.getDate() + offset);
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

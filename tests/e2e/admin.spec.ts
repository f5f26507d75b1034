import { randomUUID } from "node:crypto";
import { type Browser, expect, type Page, test } from "@playwright/test";
import {
  ADMIN_EMAIL,
  adminNavLink,
  openVerificationLink,
  PASSWORD,
  setPasswordFromEmail,
  signInAsAdmin,
} from "./support/admin";

const SCREENSHOTS = "test-results/screenshots";
/**
 * playwright.config.ts starts the server with both in ADMIN_EMAILS; the role also needs the address
 * verified and the password set from a link mailed to it.
 */
const UNVERIFIED_ADMIN_EMAIL = "unverified-admin@example.test";

async function signUp(page: Page): Promise<string> {
  const email = `customer-${randomUUID().slice(0, 8)}@example.test`;
  await page.goto("/en/sign-up");
  await page.getByTestId("name-input").fill("Test Customer");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-auth").click();
  await page.waitForURL("**/en/settings/credits**");
  return email;
}

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  return context.newPage();
}

async function buyBasic(page: Page): Promise<void> {
  await page.getByTestId("buy-basic").click();
  await page.getByTestId("sandbox-card-number").fill("4242 4242 4242 4242");
  await page.getByTestId("sandbox-pay").click();
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("balance-value")).toHaveText("100");
}

async function openUser(admin: Page, email: string): Promise<void> {
  await admin.goto(`/en/admin?q=${encodeURIComponent(email)}`);
  const row = admin.getByTestId("admin-user-row");
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(email);
  await row.getByTestId("admin-user-link").click();
  await admin.waitForURL("**/en/admin/users/**");
  await expect(admin.getByTestId("admin-user-email")).toHaveText(email);
}

test("an admin refunds a customer's purchase and the customer's balance drops to 0", async ({ browser }) => {
  const customer = await newPage(browser);
  const email = await signUp(customer);
  await buyBasic(customer);

  const admin = await newPage(browser);
  await signInAsAdmin(admin);
  await expect(
    admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }),
  ).toBeVisible();
  await openUser(admin, email);
  await expect(admin.getByTestId("admin-available")).toHaveText("100");

  const refund = admin.getByTestId("admin-user-purchases").locator('[data-testid^="refund-"]');
  await expect(refund).toHaveCount(1);
  await refund.click();
  await admin.getByTestId("refund-reason").fill("Customer asked for a refund");
  await admin.getByTestId("refund-confirm").click();
  await expect(admin.getByTestId("refund-dialog")).toHaveCount(0);

  await expect(admin.getByTestId("admin-balance")).toHaveText("0");
  await expect(admin.getByTestId("admin-available")).toHaveText("0");
  await expect(admin.getByTestId("purchase-refunded")).toContainText("$9.99");
  // A refunded purchase cannot be refunded again.
  await expect(refund).toHaveCount(0);
  const history = admin.getByTestId("admin-user-history").getByTestId("transaction-row");
  await expect(history.first()).toHaveAttribute("data-type", "refund");
  await expect(history.first()).toContainText("-100");

  await customer.reload();
  await expect(customer.getByTestId("balance-value")).toHaveText("0");
  await expect(customer.getByTestId("transaction-row").first()).toContainText("Refund of Basic package");
});

test("an admin grants 25 credits with a reason and the audit log shows who did it", async ({ browser }) => {
  const customer = await newPage(browser);
  const email = await signUp(customer);

  const admin = await newPage(browser);
  await signInAsAdmin(admin);
  await openUser(admin, email);
  const reason = `Goodwill credit ${randomUUID().slice(0, 8)}`;
  await admin.getByTestId("adjust-amount").fill("25");
  await admin.getByTestId("adjust-reason").fill(reason);
  await expect(admin.getByTestId("adjust-submit")).toHaveText("Grant 25 credits");
  await admin.getByTestId("adjust-submit").click();
  await expect(admin.getByTestId("admin-available")).toHaveText("25");
  await expect(admin.getByTestId("adjust-amount")).toHaveValue("");

  await admin.getByTestId("admin-nav-audit").click();
  await admin.waitForURL("**/en/admin/audit");
  const entry = admin.getByTestId("audit-row").filter({ hasText: reason });
  await expect(entry).toHaveCount(1);
  await expect(entry).toHaveAttribute("data-action", "credits.grant");
  await expect(entry).toContainText("Credits granted");
  await expect(entry).toContainText(ADMIN_EMAIL);
  await expect(entry).toContainText("25");

  await customer.reload();
  await expect(customer.getByTestId("balance-value")).toHaveText("25");
  await expect(customer.getByTestId("transaction-row").first()).toContainText(reason);
});

test("the admin console answers 404 to everyone but admins", async ({ page }) => {
  const signedOut = await page.goto("/en/admin");
  expect(signedOut?.status()).toBe(404);

  await signUp(page);
  await expect(
    page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }),
  ).toHaveCount(0);
  for (const path of ["/en/admin", "/en/admin/purchases", "/en/admin/api-keys", "/en/admin/audit"]) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(404);
    await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  }
});

test("screenshots of the admin user page (en and zh, desktop and mobile)", async ({ browser }) => {
  const customer = await newPage(browser);
  const email = await signUp(customer);
  await buyBasic(customer);

  const admin = await newPage(browser);
  await signInAsAdmin(admin);
  await openUser(admin, email);
  const path = new URL(admin.url()).pathname.replace(/^\/en/, "");
  for (const locale of ["en", "zh"] as const) {
    for (const [device, viewport] of [
      ["desktop", { width: 1280, height: 900 }],
      ["mobile", { width: 390, height: 844 }],
    ] as const) {
      await admin.setViewportSize(viewport);
      await admin.goto(`/${locale}${path}`);
      await expect(admin.locator("html")).toHaveAttribute("lang", locale);
      await expect(admin.getByTestId("admin-available")).toHaveText("100");
      await admin.screenshot({ path: `${SCREENSHOTS}/admin-user-${locale}-${device}.png`, fullPage: true });
    }
  }
});

test("an ADMIN_EMAILS account gets the console only once it is verified and its password set from the mailed link", async ({
  page,
}) => {
  await page.goto("/en/sign-up");
  await page.getByTestId("name-input").fill("Not Yet Admin");
  await page.getByTestId("email-input").fill(UNVERIFIED_ADMIN_EMAIL);
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-auth").click();
  await page.waitForURL("**/en/settings/credits**");
  await expect(page.getByTestId("verify-email-notice")).toBeVisible();

  await expect(adminNavLink(page)).toHaveCount(0);
  for (const path of ["/en/admin", "/en/admin/api-keys", "/en/admin/audit"]) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(404);
  }

  // The link arrives by email (SMTP); opening it verifies the address and signs in on the credits page.
  await openVerificationLink(page, UNVERIFIED_ADMIN_EMAIL);
  await expect(page.getByTestId("verify-email-notice")).toHaveCount(0);
  // Verified, but the password was chosen at sign-up, which anyone who got there first could have done:
  // the page asks for the password to be set from the second link the app mailed.
  await expect(page.getByTestId("admin-password-notice")).toBeVisible();
  await expect(adminNavLink(page)).toHaveCount(0);
  expect((await page.goto("/en/admin"))?.status()).toBe(404);

  await setPasswordFromEmail(page, UNVERIFIED_ADMIN_EMAIL);
  await expect(page.getByTestId("admin-password-notice")).toHaveCount(0);
  await expect(adminNavLink(page)).toBeVisible();
  const console = await page.goto("/en/admin");
  expect(console?.status()).toBe(200);
});

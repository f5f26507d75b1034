import { expect, type Page } from "@playwright/test";
import { passwordLinkFor, verificationLinkFor } from "./inbox";

/**
 * playwright.config.ts starts the server with this address in ADMIN_EMAILS; the role also needs the
 * address verified and the password set from a link mailed to it.
 */
export const ADMIN_EMAIL = "admin@example.test";
export const PASSWORD = "correct horse battery";

/** Opens the link the app emailed to `email`, as the user would from their mail program. */
export async function openVerificationLink(page: Page, email: string): Promise<void> {
  const link = await verificationLinkFor(email);
  // The sign-up form's refresh may still be in flight: let it finish so it does not abort this navigation.
  await page.waitForLoadState("networkidle");
  await page.goto(link);
  await page.waitForURL("**/en/settings/credits**");
}

/**
 * Opens the set-password link the app mailed to `email`, sets PASSWORD on the page it leads to, and signs
 * in with it (setting the password signed every session out).
 */
export async function setPasswordFromEmail(page: Page, email: string): Promise<void> {
  const link = await passwordLinkFor(email);
  await page.goto(link);
  await page.waitForURL("**/en/reset-password?token=**");
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-password").click();
  await expect(page.getByTestId("password-set")).toBeVisible();
  await page.getByTestId("password-set-sign-in").click();
  await page.waitForURL("**/en/sign-in**");
  await page.getByTestId("email-input").fill(email);
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-auth").click();
  await page.waitForURL("**/en/settings/credits**");
}

export function adminNavLink(page: Page) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" });
}

/**
 * The admin account is created by the first test that needs it, and its address verified through the
 * link the app emailed (the mail catcher receives it); later tests sign in to it.
 */
export async function signInAsAdmin(page: Page): Promise<void> {
  await page.goto("/en/sign-up");
  await page.getByTestId("name-input").fill("Ada Admin");
  await page.getByTestId("email-input").fill(ADMIN_EMAIL);
  await page.getByTestId("password-input").fill(PASSWORD);
  await page.getByTestId("submit-auth").click();
  await expect(page.getByTestId("auth-error").or(page.getByTestId("balance-value"))).toBeVisible();
  if (await page.getByTestId("auth-error").isVisible()) {
    await page.goto("/en/sign-in");
    await page.getByTestId("email-input").fill(ADMIN_EMAIL);
    await page.getByTestId("password-input").fill(PASSWORD);
    await page.getByTestId("submit-auth").click();
  }
  await page.waitForURL("**/en/settings/credits**");
  await expect(page.getByTestId("balance-value")).toBeVisible();
  if (await page.getByTestId("verify-email-notice").isVisible())
    await openVerificationLink(page, ADMIN_EMAIL);
  if (await page.getByTestId("admin-password-notice").isVisible())
    await setPasswordFromEmail(page, ADMIN_EMAIL);
  await expect(adminNavLink(page)).toBeVisible();
}

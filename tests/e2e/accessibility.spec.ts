import AxeBuilder from "@axe-core/playwright";
import { type Browser, type BrowserContext, expect, type Page, test } from "@playwright/test";
import { ADMIN_EMAIL, signInAsAdmin } from "./support/admin";

/**
 * Every page passes axe with no serious or critical violation of WCAG 2.0/2.1 A and AA, in both locales
 * and both themes. One browser context per locale and theme: the public pages first, then the signed-in
 * ones with the session saved once by the setup test (the admin account, which has also bought a package
 * and subscribed, so the credits page shows its plan card, period meter and history).
 *
 * The four contexts audit at once, in one test: a page mostly waits (on the server, on the network going
 * idle, on animations), so four in turn took four times as long as four side by side. Each context still
 * visits and audits every page; the violations are collected per context and reported together.
 */

const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const BLOCKING = new Set(["serious", "critical"]);

/** Waits until the page is idle and no CSS animation or transition (a dialog fading in) is still running. */
async function settle(page: Page): Promise<void> {
  await page.waitForLoadState("networkidle");
  await page.waitForFunction(() =>
    document.getAnimations().every((animation) => animation.playState !== "running"),
  );
}

/** Runs axe on the page as it is; returns one line per serious or critical violation and node. */
async function audit(page: Page, label: string): Promise<string[]> {
  await settle(page);
  const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
  const lines: string[] = [];
  for (const violation of results.violations) {
    if (!BLOCKING.has(violation.impact ?? "")) continue;
    for (const node of violation.nodes) {
      lines.push(
        `[${label}] ${violation.id} (${violation.impact}) ${node.target.join(" ")}: ${violation.help}` +
          (node.failureSummary ? ` — ${node.failureSummary.replace(/\s+/g, " ")}` : ""),
      );
    }
  }
  return lines;
}

type StorageState = Awaited<ReturnType<BrowserContext["storageState"]>>;
/** Saved once per worker: signing in as the admin goes through the mail catcher, and buys credits. */
let savedState: StorageState | null = null;

async function signedInState(browser: Browser): Promise<StorageState> {
  if (savedState) return savedState;
  const context = await browser.newContext();
  const page = await context.newPage();
  await signInAsAdmin(page);
  // A subscription (plan card, period meter) and a package (history) on the credits page.
  if ((await page.getByTestId("current-plan").count()) === 0) {
    await page.getByTestId("subscribe-pro-monthly").click();
    await page.getByTestId("sandbox-card-number").fill("4242 4242 4242 4242");
    await page.getByTestId("sandbox-pay").click();
    await expect(page.getByTestId("payment-success")).toBeVisible();
    await page.getByTestId("payment-done").click();
    await expect(page.getByTestId("current-plan")).toBeVisible();
    // The sandbox's test clock: a renewal, so the period meter and a rollover show as well.
    await page.getByTestId("advance-renewal").click();
    await expect(page.getByTestId("advance-result")).toHaveAttribute("data-tone", "success");
  }
  await page.getByTestId("buy-basic").click();
  await page.getByTestId("sandbox-card-number").fill("4242 4242 4242 4242");
  await page.getByTestId("sandbox-pay").click();
  await expect(page.getByTestId("payment-success")).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("pay-dialog")).toHaveCount(0);
  savedState = await context.storageState();
  await context.close();
  return savedState;
}

type Locale = "en" | "zh";
type Theme = "light" | "dark";

/**
 * Visits every page in one new context of `locale` and `theme` (signed out, then signed in with `state`),
 * audits each, and returns the serious and critical violations found, one line per node.
 */
async function auditEveryPage(
  browser: Browser,
  state: StorageState,
  locale: Locale,
  theme: Theme,
): Promise<string[]> {
  const context: BrowserContext = await browser.newContext({ colorScheme: theme, locale });
  try {
    const page = await context.newPage();
    const violations: string[] = [];
    const check = async (path: string, label = path, ready?: () => Promise<void>) => {
      await page.goto(`/${locale}${path}`);
      if (ready) await ready();
      await expect(page.locator("html")).toHaveAttribute("lang", locale);
      if (theme === "dark") await expect(page.locator("html")).toHaveClass(/\bdark\b/);
      else await expect(page.locator("html")).not.toHaveClass(/\bdark\b/);
      violations.push(...(await audit(page, `${locale} ${theme} ${label}`)));
    };

    const heading = () => expect(page.getByRole("heading", { level: 1 })).toHaveCount(1);
    // Signed out.
    await check("", "landing", () => expect(page.getByTestId("package-standard")).toBeVisible());
    await check("/sign-in", "sign-in", async () => {
      await expect(page.getByTestId("email-input")).toBeVisible();
      await heading();
    });
    await check("/sign-up", "sign-up", async () => {
      await expect(page.getByTestId("name-input")).toBeVisible();
      await heading();
    });
    await check("/reset-password", "reset-password (request)", async () => {
      await expect(page.getByTestId("email-input")).toBeVisible();
      await heading();
    });
    await check("/reset-password?token=not-a-real-token", "reset-password (set)", () =>
      expect(page.getByTestId("password-input")).toBeVisible(),
    );
    await check("/no-such-page", "not found");

    // Signed in, as the admin who bought a package and subscribed.
    await context.addCookies(state.cookies);
    await check("#pricing", "landing and pricing (signed in)", () =>
      expect(page.getByTestId("package-standard")).toBeVisible(),
    );
    await check("/settings/credits", "credits", async () => {
      await expect(page.getByTestId("current-plan")).toBeVisible();
      await expect(page.getByTestId("transaction-row").first()).toBeVisible();
    });
    await page.getByTestId("buy-basic").click();
    await expect(page.getByTestId("sandbox-form")).toBeVisible();
    violations.push(...(await audit(page, `${locale} ${theme} pay dialog`)));
    await page.keyboard.press("Escape");
    await expect(page.getByTestId("pay-dialog")).toHaveCount(0);

    await check("/generate", "generate", () => expect(page.getByTestId("prompt-input")).toBeVisible());
    await page.getByTestId("prompt-input").fill("A lighthouse on a cliff at sunset");
    await page.getByTestId("generate-button").click();
    await expect(page.getByTestId("generated-image")).toBeVisible();
    violations.push(...(await audit(page, `${locale} ${theme} generate (result)`)));

    await check("/admin", "admin overview", () =>
      expect(page.getByTestId("admin-user-row").first()).toBeVisible(),
    );
    await check(`/admin?q=${encodeURIComponent(ADMIN_EMAIL)}`, "admin users (search)", () =>
      expect(page.getByTestId("admin-user-row")).toHaveCount(1),
    );
    await page.getByTestId("admin-user-link").click();
    await page.waitForURL(`**/${locale}/admin/users/**`);
    await expect(page.getByTestId("admin-user-email")).toHaveText(ADMIN_EMAIL);
    violations.push(...(await audit(page, `${locale} ${theme} admin user`)));
    for (const section of [
      "overview",
      "purchases",
      "subscriptions",
      "webhooks",
      "outbound-webhooks",
      "bulk",
      "api-keys",
      "audit",
    ]) {
      await check(`/admin/${section}`, `admin ${section}`, () =>
        expect(page.getByTestId(`admin-nav-${section}`)).toHaveAttribute("aria-current", "page"),
      );
    }
    return violations;
  } catch (error) {
    // Four contexts run at once: say which one stopped.
    if (error instanceof Error) error.message = `[${locale} ${theme}] ${error.message}`;
    throw error;
  } finally {
    await context.close();
  }
}

test("every page passes axe (en and zh, light and dark)", async ({ browser }) => {
  test.setTimeout(360_000);
  const state = await signedInState(browser);
  const combinations = (["en", "zh"] as const).flatMap((locale) =>
    (["light", "dark"] as const).map((theme) => ({ locale, theme })),
  );
  // All four run to their end (allSettled) so that a failure in one does not leave the others running.
  const outcomes = await Promise.allSettled(
    combinations.map(({ locale, theme }) => auditEveryPage(browser, state, locale, theme)),
  );
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure) throw failure.reason;
  const violations = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? outcome.value : []));
  expect(violations, violations.join("\n")).toEqual([]);
});

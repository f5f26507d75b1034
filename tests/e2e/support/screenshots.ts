import { expect, type Locator } from "@playwright/test";

/** Where every spec saves its screenshots, as `<page>-<locale>-<device or theme>.png`. */
export const SCREENSHOTS = "test-results/screenshots";

/**
 * Screenshots `target` in the light and then the dark theme, as `<name>-light.png` and `<name>-dark.png`,
 * and leaves the page light. The app follows the system's scheme (next-themes, "system"), which switches
 * the page's class at once, so no reload is needed between the two.
 */
export async function screenshotInThemes(target: Locator, name: string): Promise<void> {
  const page = target.page();
  const html = page.locator("html");
  for (const theme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: theme });
    await expect(html).toHaveClass(theme === "dark" ? /\bdark\b/ : /^(?!.*\bdark\b)/);
    await target.screenshot({ path: `${SCREENSHOTS}/${name}-${theme}.png` });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

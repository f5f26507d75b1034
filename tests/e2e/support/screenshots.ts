import { expect, type Locator } from "@playwright/test";

/** Context options for pages that are screenshotted: the desktop viewport, and no chart animations. */
export const SCREENSHOT_CONTEXT = {
  viewport: { width: 1280, height: 900 },
  reducedMotion: "reduce",
} as const;

/** Where every spec saves its screenshots, as `<page>-<locale>-<device or theme>.png`. */
export const SCREENSHOTS = "test-results/screenshots";

/**
 * Screenshots `target` in the light and then the dark theme, as `<name>-light.png` and `<name>-dark.png`,
 * and leaves the page light. The app follows the system's scheme (next-themes, "system"), which switches
 * the page's class at once, so no reload is needed between the two. Contexts made with REDUCED_MOTION
 * draw charts at once (recharts skips its animations), so a screenshot never catches a bar half-grown.
 */
export async function screenshotInThemes(target: Locator, name: string): Promise<void> {
  const page = target.page();
  const html = page.locator("html");
  for (const theme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: theme });
    await expect(html).toHaveClass(theme === "dark" ? /\bdark\b/ : /^(?!.*\bdark\b)/);
    // The site header is sticky: in a screenshot of a scrolled element it would cover the element's top.
    await target.screenshot({
      path: `${SCREENSHOTS}/${name}-${theme}.png`,
      style: "body header { position: static !important; }",
    });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/**
 * Waits until React has hydrated `target` (its DOM node carries React's props): a control used before
 * that keeps its old state in React (a select) or submits as a plain HTML form (an upload). On a loaded
 * machine hydration can trail the load event by seconds.
 */
export async function waitForHydration(target: Locator): Promise<void> {
  await expect
    .poll(() => target.evaluate((node) => Object.keys(node).some((key) => key.startsWith("__reactProps"))), {
      message: "React hydrated the control",
    })
    .toBe(true);
}

import { defineConfig, devices } from "@playwright/test";

const port = Number(process.env.E2E_PORT ?? 3210);
const baseURL = `http://localhost:${port}`;
const dataDir = `.data/e2e-${Date.now()}`;
/** The mail catcher (tests/e2e/support/mail-catcher.ts): SMTP for the app, an HTTP inbox for the tests. */
const smtpPort = Number(process.env.E2E_SMTP_PORT ?? port + 10_000);
const mailInboxUrl = `http://127.0.0.1:${Number(process.env.E2E_INBOX_PORT ?? port + 20_000)}`;
// The tests read the inbox (tests/e2e/support/inbox.ts); workers inherit the runner's environment.
process.env.E2E_INBOX_URL = mailInboxUrl;

/**
 * End-to-end tests run the production build (`next build` first) on a fresh embedded database and the
 * payment sandbox, in Debian's Chromium: Playwright never downloads a browser here.
 */
export default defineConfig({
  testDir: "tests/e2e",
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  outputDir: "test-results/e2e",
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"], channel: undefined } }],
  webServer: [
    {
      // Started first: the app emails verification links to it (SMTP_URL below).
      command: "npx tsx tests/e2e/support/mail-catcher.ts",
      url: `${mailInboxUrl}/health`,
      timeout: 60_000,
      reuseExistingServer: false,
      env: {
        MAIL_CATCHER_SMTP_PORT: String(smtpPort),
        MAIL_CATCHER_HTTP_PORT: new URL(mailInboxUrl).port,
      },
    },
    {
      // The production server exactly as `npm start` runs it (building first if the build is missing or stale).
      command: "node scripts/start.mjs",
      url: `${baseURL}/api/credits/packages`,
      timeout: 300_000,
      reuseExistingServer: false,
      stdout: "pipe",
      env: {
        DATA_DIR: dataDir,
        BETTER_AUTH_URL: baseURL,
        PORT: String(port),
        NEXT_TELEMETRY_DISABLED: "1",
        LOG_LEVEL: "warn",
        // Every test signs up from 127.0.0.1; the suite signs up more than the default 20 a minute.
        RATE_LIMIT_AUTH_PER_MINUTE: "120",
        // The admin console's tests sign up with these addresses; the role needs the address verified too.
        ADMIN_EMAILS: "admin@example.test,unverified-admin@example.test",
        // The sandbox is the provider under test: make sure no Stripe keys leak in from the environment.
        STRIPE_SECRET_KEY: "",
        STRIPE_WEBHOOK_SECRET: "",
        NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "",
        DATABASE_URL: "",
        // Verification links are emailed to the mail catcher, where the tests open them as a user would.
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        EMAIL_FROM: "creditkit <no-reply@example.test>",
        // The outbound-webhooks spec delivers to a receiver on this machine (a private address).
        WEBHOOK_ALLOW_PRIVATE_URLS: "true",
      },
    },
  ],
});

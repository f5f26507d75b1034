import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Variables a developer's shell may carry that would change which database or payment provider a route uses. */
const AMBIENT_KEYS = [
  "DATABASE_URL",
  "BETTER_AUTH_URL",
  "ADMIN_EMAILS",
  "STRIPE_SECRET_KEY",
  "STRIPE_WEBHOOK_SECRET",
  "STRIPE_API_BASE",
  "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
  "PAYMENT_PROVIDER",
] as const;

export type TestServerEnv = { dataDir: string; cleanup: () => void };

/**
 * Prepares process.env for calling route handlers: a throwaway DATA_DIR (so the generated local secrets
 * never land in the working tree), a fixed auth secret, and no ambient Stripe or database settings.
 *
 * getServerEnv() parses process.env once and caches it for the module context (one per test file), so
 * call this before the first route handler runs — at the top of the file or first thing in beforeAll.
 */
export function configureServerEnv(overrides: Record<string, string> = {}): TestServerEnv {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-test-"));
  for (const key of AMBIENT_KEYS) delete process.env[key];
  process.env.DATA_DIR = dataDir;
  process.env.BETTER_AUTH_SECRET = randomBytes(32).toString("hex");
  Object.assign(process.env, overrides);
  return { dataDir, cleanup: () => fs.rmSync(dataDir, { recursive: true, force: true }) };
}

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { logger } from "@/lib/logger";
import { getServerEnv } from "./env";

type LocalSecrets = { betterAuthSecret: string; sandboxWebhookSecret: string };

let cached: LocalSecrets | undefined;

/**
 * Secrets the app needs to run locally with no environment at all. They are generated on first
 * start and kept under the data folder so sessions and signatures survive a restart.
 * A configured environment variable always wins.
 */
export function getLocalSecrets(): LocalSecrets {
  if (cached) return cached;
  const env = getServerEnv();
  const file = path.resolve(env.DATA_DIR, "secrets.json");
  let stored: Partial<LocalSecrets> = {};
  if (fs.existsSync(file)) {
    try {
      stored = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<LocalSecrets>;
    } catch (error) {
      // Regenerating would silently sign everyone out and invalidate the sandbox's signatures.
      throw new Error(
        `Cannot read the local secrets in ${file}: ${(error as Error).message}. Restore the file from a backup, or delete it to generate new secrets (everyone is signed out).`,
      );
    }
  }
  const next: LocalSecrets = {
    betterAuthSecret: stored.betterAuthSecret ?? randomBytes(32).toString("hex"),
    sandboxWebhookSecret: stored.sandboxWebhookSecret ?? `whsec_sandbox_${randomBytes(24).toString("hex")}`,
  };
  if (
    next.betterAuthSecret !== stored.betterAuthSecret ||
    next.sandboxWebhookSecret !== stored.sandboxWebhookSecret
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(next, null, 2), { mode: 0o600 });
    logger.info({ file }, "generated local secrets (auth secret, sandbox webhook secret) and saved them");
  }
  cached = next;
  return next;
}

export function getAuthSecret(): string {
  return getServerEnv().BETTER_AUTH_SECRET ?? getLocalSecrets().betterAuthSecret;
}

import { getConnection } from "@/db/client";
import { DatabaseOpenError } from "@/db/connect";
import { DataDirLockedError } from "@/db/data-dir-lock";
import { logger } from "@/lib/logger";
import { activePaymentProvider } from "@/payment/payment-config";
import {
  ConfigurationError,
  getServerEnv,
  isLocalUrl,
  nextListenProblems,
  publicUrl,
  serverConfigurationProblems,
} from "./env";
import { getLocalSecrets } from "./local-secrets";

/**
 * Everything a server checks before it listens: the whole configuration (every bad variable named at
 * once), the local secrets, and the database opened, locked (embedded) and migrated. Throws
 * ConfigurationError, DatabaseOpenError or DataDirLockedError; the caller prints startupFailureMessage()
 * and exits non-zero, so a server that cannot work never answers a request.
 * Called by scripts/server.mjs (npm start) before Next.js is prepared, and by src/instrumentation.ts for
 * `next start` and `next dev`; the second call in one process finds everything done.
 */
export async function prepareServer(options: { startedByNext?: boolean } = {}): Promise<void> {
  const problems = [...serverConfigurationProblems(), ...(options.startedByNext ? nextListenProblems() : [])];
  if (problems.length > 0) throw new ConfigurationError(problems);
  const env = getServerEnv();
  getLocalSecrets();
  await getConnection();
  if (activePaymentProvider() === "sandbox" && !isLocalUrl(publicUrl(env))) {
    logger.warn(
      { publicUrl: publicUrl(env) },
      "PAYMENT_PROVIDER=sandbox: the payment sandbox takes payments at a public URL; the test card buys credits for free",
    );
  } else if (env.PAYMENT_PROVIDER === "sandbox" && env.STRIPE_SECRET_KEY) {
    logger.warn("PAYMENT_PROVIDER=sandbox: the Stripe keys are set but not used");
  }
  logger.info(
    { paymentProvider: activePaymentProvider(), publicUrl: publicUrl(env) },
    "creditkit is prepared",
  );
}

/** prepareServer(), or the failure printed (no stack trace) and exit status 1. */
export async function prepareServerOrExit(options: { startedByNext?: boolean } = {}): Promise<void> {
  try {
    await prepareServer(options);
  } catch (error) {
    console.error(startupFailureMessage(error));
    process.exit(1);
  }
}

/**
 * The text printed when a server or the CLI cannot start: the expected failures in plain words (no stack
 * trace), anything else with its message.
 */
export function startupFailureMessage(error: unknown): string {
  // By its code, not its class: under `npm start` the configuration and database modules exist twice
  // (scripts/server.mjs's copy and Next.js's bundle), and either may report what the other threw.
  const problems =
    error instanceof ConfigurationError
      ? error.problems
      : (error as { code?: unknown } | null)?.code === "invalid_configuration"
        ? (error as { problems?: unknown }).problems
        : undefined;
  if (Array.isArray(problems)) {
    return [
      "creditkit cannot start: the configuration is invalid.",
      ...(problems as ConfigurationError["problems"]).map(
        (problem) => `  ${problem.variable}: ${problem.message}`,
      ),
      "Set these in the environment or in .env.local (env.example lists every variable).",
    ].join("\n");
  }
  if (error instanceof DatabaseOpenError || error instanceof DataDirLockedError) {
    return `creditkit cannot start: ${error.message}`;
  }
  return `creditkit cannot start: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Runs once when the server starts: creates local secrets if needed and applies migrations before the
 * first request, so a fresh checkout needs no set-up step.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  // Build workers must not open the embedded database: only one process may hold it.
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  const { getServerEnv } = await import("./config/env");
  const { getLocalSecrets } = await import("./config/local-secrets");
  const { getConnection } = await import("./db/client");
  const { activePaymentProvider } = await import("./payment/payment-config");
  const { logger } = await import("./lib/logger");
  const { startJobs } = await import("./jobs/start-jobs");
  // A catalog price Stripe would refuse throws when the module loads: at start, not at a customer's payment.
  await import("./credits/packages");
  const env = getServerEnv();
  getLocalSecrets();
  const connection = await getConnection();
  if (process.env.CREDITKIT_JOBS !== "off") await startJobs(connection, env.DATABASE_URL);
  logger.info({ paymentProvider: activePaymentProvider() }, "creditkit is ready");
}

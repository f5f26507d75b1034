/**
 * Runs once when the server starts: checks the configuration, creates local secrets if needed and opens
 * and migrates the database before the first request, so a fresh checkout needs no set-up step. Under
 * `npm start` (scripts/server.mjs) this was done before Next.js was prepared and is found done; under
 * `next start` and `next dev` it happens here. A server that cannot work exits instead of serving.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  // Build workers must not open the embedded database: only one process may hold it.
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  const { prepareServerOrExit } = await import("./config/prepare-server");
  // Started by Next.js: under `next start` / `next dev` run on their own, it chose where to listen.
  await prepareServerOrExit({ startedByNext: true });
  const { getServerEnv } = await import("./config/env");
  const { getConnection } = await import("./db/client");
  const { startJobs } = await import("./jobs/start-jobs");
  // A catalog price Stripe would refuse throws when the module loads: at start, not at a customer's payment.
  await import("./credits/packages");
  const env = getServerEnv();
  if (env.CREDITKIT_JOBS !== "off") await startJobs(await getConnection(), env.DATABASE_URL);
}

/**
 * Runs once when the server starts: checks the configuration, creates local secrets if needed and opens
 * and migrates the database before the first request, so a fresh checkout needs no set-up step, then starts
 * the scheduled jobs. A server that cannot work exits instead of serving.
 *
 * It also publishes the production server's entry (src/server/production-entry.ts) in the process registry:
 * scripts/server.mjs (`npm start`, plain JavaScript) serves /api with the app's routes from this build,
 * compiled by Next.js like everything else, with no TypeScript loader at run time.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  // Build workers must not open the embedded database: only one process may hold it.
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  const { prepareServerOrExit, startupFailureMessage } = await import("./config/prepare-server");
  // Started by Next.js: under `next start` / `next dev` run on their own, it chose where to listen (under
  // `npm start`, scripts/server.mjs chose and said so).
  await prepareServerOrExit({ startedByNext: true });
  const { getServerEnv } = await import("./config/env");
  const { getConnection } = await import("./db/client");
  const { startJobs } = await import("./jobs/start-jobs");
  // A catalog price Stripe would refuse throws when the module loads: at start, not at a customer's payment.
  await import("./catalog/packages");
  const env = getServerEnv();
  // The plans' monthly credits, where a spend's transaction resolves a percentage low-balance threshold.
  const { syncPlanAllocations } = await import("./alerts/sync-plan-allocations");
  await syncPlanAllocations((await getConnection()).db);
  try {
    if (env.CREDITKIT_JOBS !== "off") await startJobs(await getConnection(), env.DATABASE_URL);
  } catch (error) {
    // Without its jobs the app would look healthy while nothing expires or reconciles: stop, say why, and
    // let the process manager start it again.
    console.error(startupFailureMessage(error));
    process.exit(1);
  }
  const { publishProductionEntry } = await import("./server/production-entry");
  publishProductionEntry();
}

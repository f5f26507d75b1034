/**
 * Expiry and hold time-to-live are judged by the database's clock (`now()` in SQL, the start of the
 * transaction), never the app server's: app instances with skewed clocks must agree on what has expired,
 * and the database is the one clock they share. Core operations still take an optional explicit time so
 * tests can move through time; production code never passes one. This turns that optional time into the
 * SQL parameter the ledger's functions take: `NULL` means "the database's now()".
 */
export function clockParam(now: Date | undefined): string | null {
  return now ? now.toISOString() : null;
}

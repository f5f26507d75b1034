import { expect } from "vitest";
import { verifyLedger } from "../../src/credits/verify-ledger";
import type { Database } from "../../src/db/types";

/** Every integration suite ends by checking the whole ledger: a test can pass and still corrupt it. */
export async function assertLedgerInvariants(db: Database): Promise<void> {
  const report = await verifyLedger(db);
  expect(report.violations).toEqual([]);
}

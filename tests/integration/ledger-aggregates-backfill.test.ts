import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import { afterAll, describe, expect, it } from "vitest";
import { getLedgerOverview } from "../../src/admin/get-ledger-overview";
import { verifyLedgerAggregates } from "../../src/credits/verify-ledger-aggregates";
import { migrationsFolder } from "../../src/db/connect";
import * as schema from "../../src/db/schema";
import type { Database } from "../../src/db/types";

/**
 * An installation upgrading with a ledger already written: the migration that adds the overview's aggregates
 * must fill them from that ledger, in its own transaction, so the first page view is already right. Runs the
 * numbered migrations up to the one before it, writes a ledger as those versions would hold it, then the rest.
 */
describe("migration 0024 backfills the overview's aggregates from an existing ledger (pglite)", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-backfill-"));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("leaves sums equal to the ledger, and the overview answers them", async () => {
    // The migrations as they stood before this one: the same files, the journal cut before 0024.
    const before = path.join(work, "migrations");
    fs.cpSync(migrationsFolder, before, { recursive: true });
    const journalFile = path.join(before, "meta", "_journal.json");
    const journal = JSON.parse(fs.readFileSync(journalFile, "utf8")) as {
      entries: { idx: number; tag: string }[];
    };
    const cut = journal.entries.findIndex((entry) => entry.tag.endsWith("_ledger_aggregates"));
    expect(cut).toBeGreaterThan(0);
    journal.entries = journal.entries.slice(0, cut);
    fs.writeFileSync(journalFile, JSON.stringify(journal));

    const client = new PGlite();
    try {
      const db = drizzle({ client, schema, casing: "snake_case" }) as unknown as Database;
      await migrate(db as never, { migrationsFolder: before });
      await db.execute(
        sql`INSERT INTO "user" (id, name, email) VALUES ('u1', 'U', 'u1@example.test'), ('u2', 'V', 'u2@example.test')`,
      );
      await db.execute(
        sql`INSERT INTO credit_account (user_id, balance, held, debt) VALUES ('u1', 70, 0, 0), ('u2', 5, 0, 3)`,
      );
      await db.execute(sql`INSERT INTO credit_lot (user_id, credits, remaining, source, category)
                           VALUES ('u1', 100, 60, 'purchase', 'paid'), ('u1', 10, 10, 'grant', 'promotional'),
                                  ('u2', 20, 5, 'signup_gift', 'promotional')`);
      await db.execute(sql`INSERT INTO credit_entry (user_id, type, amount, balance_after, debt_change, description, idempotency_key, request_hash, created_at)
                           VALUES ('u1', 'purchase', 100, 100, 0, 'p', 'k1', 'h', now() - interval '2 days'),
                                  ('u1', 'grant', 10, 110, 0, 'g', 'k2', 'h', now() - interval '1 day'),
                                  ('u1', 'consume', -40, 70, 0, 'c', 'k3', 'h', now()),
                                  ('u2', 'signup_gift', 20, 20, 0, 's', 'k4', 'h', now()),
                                  ('u2', 'consume', -15, 5, 0, 'c', 'k5', 'h', now()),
                                  ('u2', 'refund', 0, 5, 3, 'r', 'k6', 'h', now())`);
      await db.execute(sql`INSERT INTO credit_purchase (user_id, package_id, credits, amount, currency, provider, status, amount_refunded)
                           VALUES ('u1', 'standard', 100, 3999, 'usd', 'sandbox', 'succeeded', 1000),
                                  ('u2', 'basic', 20, 999, 'eur', 'sandbox', 'failed', 0)`);

      await migrate(db as never, { migrationsFolder });
      expect(await verifyLedgerAggregates(db)).toEqual([]);
      const overview = await getLedgerOverview(db, { days: 7 });
      expect(overview.totals.sold).toBe(100);
      expect(overview.totals.consumed).toBe(55);
      expect(overview.totals.clawedBack).toBe(3);
      expect(overview.outstanding).toMatchObject({ paid: 60, promotional: 15, held: 0, total: 75, debt: 3 });
      expect(overview.revenue.byPackage).toMatchObject([
        { id: "standard", currency: "usd", amount: 3999, refunded: 1000 },
      ]);
    } finally {
      await client.close();
    }
  });
});

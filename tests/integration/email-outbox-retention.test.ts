import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { emailOutbox } from "../../src/db/schema";
import { pruneEmailOutbox } from "../../src/email/prune-email-outbox";
import { seedUserWithCredits } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

type Row = {
  status: "pending" | "sent" | "logged" | "skipped" | "failed";
  /** When it was sent (sent, logged, skipped); null for a row never sent. */
  sentDaysAgo: number | null;
  /** When its day of retries ended (a failed row was given up then). */
  giveUpDaysAgo: number;
  attempts: number;
};

describe.each(databaseKinds())("email outbox retention on %s", (kind) => {
  const database = useTestDatabase(kind);

  /** Writes rows as the email worker leaves them, for one account; returns their ids by name. */
  async function outboxOf<Name extends string>(rows: Record<Name, Row>) {
    const userId = await seedUserWithCredits(database.db, 10);
    const ids = {} as Record<Name, string>;
    for (const [name, row] of Object.entries(rows) as [Name, Row][]) {
      const created = daysAgo(row.giveUpDaysAgo + 1);
      const [written] = await database.db
        .insert(emailOutbox)
        .values({
          userId,
          kind: "low_balance",
          payload: { available: 5, threshold: 10, percent: null },
          status: row.status,
          attempts: row.attempts,
          createdAt: created,
          nextAttemptAt: created,
          giveUpAt: daysAgo(row.giveUpDaysAgo),
          sentAt: row.sentDaysAgo === null ? null : daysAgo(row.sentDaysAgo),
          lastError: row.attempts > 1 ? "421 try again later" : null,
        })
        .returning({ id: emailOutbox.id });
      if (!written) throw new Error("outbox row not written");
      ids[name] = written.id;
    }
    const left = async () =>
      (await database.db.select().from(emailOutbox).where(eq(emailOutbox.userId, userId)))
        .map((row) => (Object.entries(ids) as [Name, string][]).find(([, id]) => id === row.id)?.[0])
        .sort();
    return { ids, left };
  }

  it("deletes rows sent or given up more than the retention ago; a recent one, an unsent one and a retrying one stay; a second run deletes nothing", async () => {
    const outbox = await outboxOf({
      sentLongAgo: { status: "sent", sentDaysAgo: 50, giveUpDaysAgo: 49, attempts: 1 },
      loggedOld: { status: "logged", sentDaysAgo: 40, giveUpDaysAgo: 39, attempts: 1 },
      skippedOld: { status: "skipped", sentDaysAgo: 31, giveUpDaysAgo: 30, attempts: 1 },
      failedOld: { status: "failed", sentDaysAgo: null, giveUpDaysAgo: 35, attempts: 30 },
      sentRecent: { status: "sent", sentDaysAgo: 10, giveUpDaysAgo: 9, attempts: 2 },
      failedRecent: { status: "failed", sentDaysAgo: null, giveUpDaysAgo: 2, attempts: 30 },
      // Old and never sent: its worker has not reached it yet (the app was down). Still owed.
      unsentOld: { status: "pending", sentDaysAgo: null, giveUpDaysAgo: 59, attempts: 0 },
      // Old and still retrying: past its day, but the worker has not given it up yet.
      retryingOld: { status: "pending", sentDaysAgo: null, giveUpDaysAgo: 40, attempts: 12 },
    });

    // A longer retention keeps all but the oldest.
    expect(await pruneEmailOutbox(database.db, { retentionDays: 45 })).toEqual({ deleted: 1 });
    expect(await outbox.left()).not.toContain("sentLongAgo");
    // The default (30 days).
    expect(await pruneEmailOutbox(database.db)).toEqual({ deleted: 3 });
    const kept = ["failedRecent", "retryingOld", "sentRecent", "unsentOld"];
    expect(await outbox.left()).toEqual(kept);
    // Again: nothing more goes, and the pending rows are still there for the worker.
    expect(await pruneEmailOutbox(database.db)).toEqual({ deleted: 0 });
    expect(await outbox.left()).toEqual(kept);
    const [unsent] = await database.db
      .select()
      .from(emailOutbox)
      .where(eq(emailOutbox.id, outbox.ids.unsentOld));
    expect(unsent?.status).toBe("pending");
  });

  it("a backlog goes in bounded batches: a run stops after its batches, the next run goes on", async () => {
    const old = { status: "sent", sentDaysAgo: 60, giveUpDaysAgo: 59, attempts: 1 } as const;
    const outbox = await outboxOf({ a: old, b: old, c: old, d: old, e: old, f: old, g: old });
    expect(await pruneEmailOutbox(database.db, { batchSize: 3, maxBatches: 2 })).toEqual({ deleted: 6 });
    expect(await outbox.left()).toHaveLength(1);
    expect(await pruneEmailOutbox(database.db, { batchSize: 3, maxBatches: 2 })).toEqual({ deleted: 1 });
    expect(await outbox.left()).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { entriesOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

/**
 * One user's spends that arrive together run as one batch (src/credits/coalesce-spends.ts), their fields
 * sent to PostgreSQL as arrays. Text that array syntax gives a meaning to (quotes, commas, braces,
 * backslashes, the word NULL) and metadata must arrive as each caller sent it.
 */
describe.each(databaseKinds())("spends coalesced into one batch on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.close();
  });

  it("records each spend's own description and metadata, however its text reads in array syntax", async () => {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    const descriptions = [
      'a "quoted" word',
      "a, comma",
      "{braces}",
      "back\\slash",
      "NULL",
      "新年快乐 🎉",
      "line\nbreak",
    ];
    const results = await Promise.all(
      descriptions.map((description, i) =>
        consumeCredits(database.db, {
          userId,
          amount: i + 1,
          description,
          idempotencyKey: `spend-${i}`,
          metadata: { note: description, n: i },
        }),
      ),
    );
    expect(results.every((result) => result.ok)).toBe(true);
    const spends = (await entriesOf(database.db, userId)).filter((entry) => entry.type === "consume");
    expect(
      spends
        .map((entry) => ({ description: entry.description, amount: entry.amount, metadata: entry.metadata }))
        .sort((a, b) => b.amount - a.amount),
    ).toEqual(
      descriptions
        .map((description, i) => ({
          description,
          amount: -(i + 1),
          metadata: expect.objectContaining({ note: description, n: i }),
        }))
        .sort((a, b) => b.amount - a.amount),
    );
  });
});

import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { adjustCredits } from "../../src/admin/adjust-credits";
import { CreditsError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { grantSignupGift } from "../../src/credits/grant-signup-gift";
import { listTransactions } from "../../src/credits/list-transactions";
import { auditLog, user } from "../../src/db/schema";
import { COST_CATALOG } from "../../src/features/cost-catalog";
import { generateImage } from "../../src/features/generate-image";
import { runMeteredFeature } from "../../src/features/run-metered-feature";
import { seedUser } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";

describe.each(databaseKinds())("grants, gifts and metered features on %s", (kind) => {
  const database = useTestDatabase(kind);

  it("gives the signup gift once per email address, even to a re-created account", async () => {
    const email = `gift-${kind}@example.test`;
    const first = await seedUser(database.db, { email });
    expect(
      await grantSignupGift(database.db, { userId: first, email, amount: 50, expireDays: 30 }),
    ).toMatchObject({ granted: true, balance: 50 });
    expect(await grantSignupGift(database.db, { userId: first, email, amount: 50 })).toEqual({
      granted: false,
      reason: "already_claimed",
    });

    // The account is deleted and created again with the same address (in another case).
    await database.db.delete(user).where(eq(user.id, first));
    const again = await seedUser(database.db, { email: email.toUpperCase() });
    expect(
      await grantSignupGift(database.db, { userId: again, email: email.toUpperCase(), amount: 50 }),
    ).toEqual({ granted: false, reason: "already_claimed" });
    expect(await getBalance(database.db, again)).toMatchObject({ balance: 0 });
  });

  it("records admin grants and deductions with the reason and who did them", async () => {
    const userId = await seedUser(database.db);
    const actor = { userId: null, label: "ops@example.test" };
    await adjustCredits(
      database.db,
      { userId, delta: 40, reason: "Goodwill for the outage", requestId: randomUUID() },
      actor,
    );
    await adjustCredits(
      database.db,
      { userId, delta: -15, reason: "Duplicate grant", requestId: randomUUID() },
      actor,
    );
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 25 });
    await expect(
      adjustCredits(database.db, { userId, delta: -26, reason: "Too much", requestId: randomUUID() }, actor),
    ).rejects.toBeInstanceOf(CreditsError);
    const audit = await database.db.select().from(auditLog).where(eq(auditLog.targetUserId, userId));
    expect(audit.map((row) => [row.action, row.actorLabel, row.details.reason])).toEqual(
      expect.arrayContaining([
        ["credits.grant", "ops@example.test", "Goodwill for the outage"],
        ["credits.deduct", "ops@example.test", "Duplicate grant"],
      ]),
    );
    expect(audit).toHaveLength(2);
    const types = (await listTransactions(database.db, { userId })).items.map((item) => [
      item.type,
      item.description,
    ]);
    expect(types).toEqual([
      ["adjustment", "Duplicate grant"],
      ["grant", "Goodwill for the outage"],
    ]);
  });

  it("applies the same admin request once", async () => {
    const userId = await seedUser(database.db);
    const requestId = randomUUID();
    const actor = { userId: null, label: "ops" };
    await adjustCredits(database.db, { userId, delta: 10, reason: "once", requestId }, actor);
    await adjustCredits(database.db, { userId, delta: 10, reason: "once", requestId }, actor);
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 10 });
  });

  it("charges the catalog price for a generated image, and nothing when it fails or is short", async () => {
    const cost = COST_CATALOG["image.generate"].credits;
    const userId = await seedUser(database.db);
    await adjustCredits(
      database.db,
      { userId, delta: cost + 2, reason: "seed", requestId: randomUUID() },
      { userId: null, label: "t" },
    );

    const requestId = randomUUID();
    const result = await generateImage(database.db, userId, { prompt: "a red fox", requestId });
    if (!result.ok) throw new Error("should have run");
    expect(result.value.svg).toMatch(/^<svg /);
    expect(result.cost).toBe(cost);
    expect(result.balance).toBe(2);
    // The same click delivered twice is charged once, and draws the same picture.
    const again = await generateImage(database.db, userId, { prompt: "a red fox", requestId });
    expect(again).toMatchObject({ ok: true, balance: 2 });
    if (again.ok) expect(again.value.svg).toBe(result.value.svg);

    const short = await generateImage(database.db, userId, { prompt: "a blue fox", requestId: randomUUID() });
    expect(short).toEqual({ ok: false, reason: "insufficient_credits", cost, available: 2 });

    await adjustCredits(
      database.db,
      { userId, delta: 10, reason: "more", requestId: randomUUID() },
      { userId: null, label: "t" },
    );
    await expect(
      runMeteredFeature(
        database.db,
        { userId, feature: "image.generate", requestId: randomUUID(), request: {} },
        async () => {
          throw new Error("renderer crashed");
        },
      ),
    ).rejects.toThrow("renderer crashed");
    expect(await getBalance(database.db, userId)).toEqual({ balance: 12, held: 0, available: 12, debt: 0 });
  });

  it("treats a request id as an idempotency key: another prompt with it is a conflict, never a free image", async () => {
    const userId = await seedUser(database.db);
    await adjustCredits(
      database.db,
      { userId, delta: 20, reason: "seed", requestId: randomUUID() },
      { userId: null, label: "t" },
    );
    const requestId = randomUUID();
    const first = await generateImage(database.db, userId, { prompt: "a red fox", requestId });
    expect(first).toMatchObject({ ok: true, balance: 15 });
    // The same id for a different prompt would otherwise replay the first charge and hand out the second
    // picture for free.
    await expect(
      generateImage(database.db, userId, { prompt: "a blue whale", requestId }),
    ).rejects.toMatchObject({
      code: "idempotency_conflict",
    });
    // The same id and prompt (surrounding spaces are not part of a prompt) is a replay: charged once.
    const again = await generateImage(database.db, userId, { prompt: "  a red fox ", requestId });
    expect(again).toMatchObject({ ok: true, balance: 15 });
    if (first.ok && again.ok) expect(again.value.svg).toBe(first.value.svg);
    expect(await getBalance(database.db, userId)).toEqual({ balance: 15, held: 0, available: 15, debt: 0 });
  });
});

import { randomUUID } from "node:crypto";
import { addCredits } from "../../src/credits/add-credits";
import { user } from "../../src/db/schema";
import type { Database } from "../../src/db/types";

/** Inserts a user the way Better Auth would, and returns its id. */
export async function seedUser(
  db: Database,
  overrides: { email?: string; role?: string } = {},
): Promise<string> {
  const id = randomUUID();
  await db.insert(user).values({
    id,
    name: "Test User",
    email: overrides.email ?? `${id}@example.test`,
    role: overrides.role ?? "user",
  });
  return id;
}

/** A seeded user holding `credits` (one grant, key "seed", no expiry; none when 0); returns its id. */
export async function seedUserWithCredits(db: Database, credits: number): Promise<string> {
  const userId = await seedUser(db);
  if (credits > 0) {
    await addCredits(db, {
      userId,
      amount: credits,
      type: "grant",
      description: "seed",
      idempotencyKey: "seed",
    });
  }
  return userId;
}

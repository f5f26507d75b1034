import { randomUUID } from "node:crypto";
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

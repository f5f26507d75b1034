import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { assertExternalId } from "./external-id";
import { type Customer, customerColumns, toCustomer } from "./find-customer";

/**
 * What a caller may set on a customer. A field left out keeps its value; `null` clears it (email, name) or
 * empties it (metadata). The bounds (email and name lengths, metadata's keys and sizes) are checked at the
 * boundary (src/service-api/schemas.ts); this function trusts its input's shape.
 */
export type CustomerFields = {
  email?: string | null;
  name?: string | null;
  metadata?: Record<string, unknown> | null;
};

/** A customer's account id: `cus_` and a UUID's hex. Better Auth's ids are letters and digits only, so a
 * user can never be given one (the CHECK credit_account_customer_id holds customers to the prefix). */
function newCustomerAccountId(): string {
  return `cus_${randomUUID().replaceAll("-", "")}`;
}

/**
 * Creates the customer with this external id, or updates its fields: `created` says which. Idempotent by
 * nature (the same call twice leaves the same customer), and safe under concurrent calls for one id: the
 * insert is `ON CONFLICT (external_id) DO NOTHING`, so of two calls at once one creates the account and the
 * other waits for it to commit, finds the row and updates it; there is never a second account. No ledger
 * entry is written: a new account has a balance of 0, like a user's before their first credits.
 * Throws InvalidInputError (400) for an external id outside the rule (src/credits/external-id.ts).
 */
export async function upsertCustomer(
  db: DatabaseOrTransaction,
  externalId: string,
  fields: CustomerFields,
): Promise<{ customer: Customer; created: boolean }> {
  assertExternalId(externalId);
  const [inserted] = await db
    .insert(creditAccount)
    .values({
      userId: newCustomerAccountId(),
      externalId,
      email: fields.email ?? null,
      name: fields.name ?? null,
      metadata: fields.metadata ?? null,
    })
    .onConflictDoNothing({ target: creditAccount.externalId })
    .returning(customerColumns);
  if (inserted) return { customer: toCustomer(inserted), created: true };

  const changes = {
    ...(fields.email !== undefined ? { email: fields.email } : {}),
    ...(fields.name !== undefined ? { name: fields.name } : {}),
    ...(fields.metadata !== undefined ? { metadata: fields.metadata } : {}),
  };
  // Nothing to change still answers the row as it is (a plain read would do, but the no-op update keeps
  // one statement shape; updatedAt is the ledger's and is not touched).
  const [updated] = await db
    .update(creditAccount)
    .set(Object.keys(changes).length > 0 ? changes : { externalId: sql`${creditAccount.externalId}` })
    .where(eq(creditAccount.externalId, externalId))
    .returning(customerColumns);
  if (!updated) throw new Error(`customer ${externalId} vanished between insert and update`);
  return { customer: toCustomer(updated), created: false };
}

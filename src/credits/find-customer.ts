import { eq } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { CustomerNotFoundError } from "./errors";
import { assertExternalId } from "./external-id";

/**
 * A customer of another backend: a credit account named by that backend's external id. `userId` is the
 * account's id in the ledger (`cus_…`), the same column a signed-up user's account is keyed by, so every
 * ledger operation takes it where it takes a user's id.
 */
export type Customer = {
  userId: string;
  externalId: string;
  email: string | null;
  name: string | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
};

export const customerColumns = {
  userId: creditAccount.userId,
  externalId: creditAccount.externalId,
  email: creditAccount.email,
  name: creditAccount.name,
  metadata: creditAccount.metadata,
  createdAt: creditAccount.createdAt,
};

export function toCustomer(row: {
  userId: string;
  externalId: string | null;
  email: string | null;
  name: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
}): Customer {
  return { ...row, externalId: row.externalId ?? "", metadata: row.metadata ?? {} };
}

/**
 * The customer with this external id, or null. Throws InvalidInputError (400) for an id outside the rule
 * (src/credits/external-id.ts): such an id can name no customer, and saying why helps the caller more than
 * a 404 would.
 */
export async function findCustomer(db: DatabaseOrTransaction, externalId: string): Promise<Customer | null> {
  assertExternalId(externalId);
  const [row] = await db
    .select(customerColumns)
    .from(creditAccount)
    .where(eq(creditAccount.externalId, externalId));
  return row ? toCustomer(row) : null;
}

/**
 * The ledger's account id (`userId`) of the customer with this external id. Throws CustomerNotFoundError
 * (404 `customer_not_found`) when there is none: nothing is created implicitly, so a spend or a grant for a
 * misspelt id fails instead of opening a new ledger.
 */
export async function resolveCustomerAccount(db: DatabaseOrTransaction, externalId: string): Promise<string> {
  const customer = await findCustomer(db, externalId);
  if (!customer) throw new CustomerNotFoundError(externalId);
  return customer.userId;
}

import { getBalance } from "@/credits/get-balance";
import type { DatabaseOrTransaction } from "@/db/types";
import { getCurrentPlan } from "@/payment/subscriptions/get-current-plan";

/**
 * An account's balance as the service API answers it (GET …/balance, GET /customers/{externalId}): credits
 * (total, held, available) and debt, all integers, and the plan the account is on (Free without a
 * subscription; a customer's account never has one). One home, so both answers keep one shape.
 */
export async function readAccountBalance(db: DatabaseOrTransaction, userId: string) {
  const [balance, plan] = await Promise.all([getBalance(db, userId), getCurrentPlan(db, userId)]);
  return { ...balance, plan };
}

import { type Balance, getBalance } from "@/credits/get-balance";
import { getDb } from "@/db/client";

export async function getBalanceForUser(userId: string): Promise<Balance> {
  return getBalance(await getDb(), userId);
}

import { getBalance } from "@/credits/get-balance";
import { getDb } from "@/db/client";

export async function getBalanceForUser(userId: string): Promise<{ balance: number }> {
  return getBalance(await getDb(), userId);
}

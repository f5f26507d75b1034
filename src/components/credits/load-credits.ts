import { headers } from "next/headers";
import { cache } from "react";
import { getSessionFromHeaders } from "@/auth/session";
import { type Balance, getBalance } from "@/credits/get-balance";
import { listExpiringCredits } from "@/credits/list-expiring-credits";
import { getDb } from "@/db/client";
import type { ExpiringCredits } from "./credits-api";

/**
 * Server-side reads that seed the credits UI (server components only). One balance read per request,
 * shared by the header badge and the page.
 */
export const loadBalance = cache(async (userId: string): Promise<Balance> => {
  return getBalance(await getDb(), userId);
});

export async function loadExpiringCredits(userId: string): Promise<ExpiringCredits> {
  return listExpiringCredits(await getDb(), userId, 30);
}

export async function loadEmailVerified(): Promise<boolean> {
  const session = await getSessionFromHeaders(await headers());
  return session?.user.emailVerified ?? false;
}

import { headers } from "next/headers";
import { cache } from "react";
import { getSessionFromHeaders } from "@/auth/session";
import { getAutoTopUp } from "@/auto-top-up/get-auto-top-up";
import type { AutoTopUpView } from "@/auto-top-up/schemas";
import type { ExpiringCredits } from "@/components/credits/credits-api";
import { type Balance, getBalance } from "@/credits/get-balance";
import { listExpiringCredits } from "@/credits/list-expiring-credits";
import { getLowBalanceAlert, type LowBalanceAlert } from "@/credits/set-low-balance-alert";
import { getDb } from "@/db/client";
import {
  getSubscriptionSummary,
  type SubscriptionSummary,
} from "@/payment/subscriptions/get-subscription-summary";

// Server-side reads that seed the credits UI, for the pages and the layout of src/app/[locale] (server
// components only). The client components then keep the data fresh through the JSON API.

/** The user's balance (credits, integers); read once per request, shared by the header badge and the page. */
export const loadBalance = cache(async (userId: string): Promise<Balance> => {
  return getBalance(await getDb(), userId);
});

/** The user's credits that expire within the next 30 days, soonest first. */
export async function loadExpiringCredits(userId: string): Promise<ExpiringCredits> {
  return listExpiringCredits(await getDb(), userId, 30);
}

/** Whether the signed-in user's address is verified; false when nobody is signed in. */
export async function loadEmailVerified(): Promise<boolean> {
  const session = await getSessionFromHeaders(await headers());
  return session?.user.emailVerified ?? false;
}

/** The user's subscription as GET /api/credits/subscription answers it, or null when they have none. */
export async function loadSubscription(userId: string): Promise<SubscriptionSummary | null> {
  return getSubscriptionSummary(await getDb(), userId);
}

/** The user's low-balance alert (setting and banner state), as GET /api/credits/low-balance-alert answers it. */
export async function loadLowBalanceAlert(userId: string): Promise<LowBalanceAlert> {
  return getLowBalanceAlert(await getDb(), userId);
}

/** The user's auto top-up as GET /api/credits/auto-top-up answers it, for the first render. */
export async function loadAutoTopUp(userId: string): Promise<AutoTopUpView> {
  return getAutoTopUp(await getDb(), userId);
}

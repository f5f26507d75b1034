import { z } from "zod";
import { getCreditUsage, timeZoneSchema, USAGE_RANGES } from "@/credits/get-credit-usage";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { readQuery } from "@/server/request";
import { withUser } from "@/server/with-user";

/** `?range=7|30|90` (default 30) and `?timeZone=<IANA name>` (default UTC). */
export const usageQuerySchema = z
  .object({
    range: z
      .enum(USAGE_RANGES.map(String) as ["7", "30", "90"])
      .default("30")
      .transform((days) => Number(days) as (typeof USAGE_RANGES)[number]),
    timeZone: timeZoneSchema.default("UTC"),
  })
  .strict();

/**
 * GET /api/credits/usage?range=30&timeZone=Asia/Shanghai: the signed-in user's usage analytics
 * (src/credits/get-credit-usage.ts): `{timeZone, rangeDays, from, to, features: [{feature|null, spent}],
 * days: [{date, spent, spentByFeature[], granted, expired, balance}], totals, expiring: [{start, end,
 * credits}], forecast: {windowDays, spentInWindow, available, daysLeft, runsOutOn, beyondHorizon,
 * expiresUnused}}`, all amounts in credits, days `YYYY-MM-DD` in the given time zone. Never cached.
 * 401 without a session; 400 invalid_input for a range other than 7, 30 or 90, a time zone that is not an
 * IANA name, or an unknown query parameter.
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/usage",
  handler: withUser(async (request, user) => {
    const { range, timeZone } = readQuery(request, usageQuerySchema);
    // The caller's own ledger only: the user id comes from the session, never from the request.
    const usage = await getCreditUsage(await getDb(), { userId: user.id, rangeDays: range, timeZone });
    return Response.json(usage, { headers: { "cache-control": "no-store" } });
  }),
});

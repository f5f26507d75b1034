import { getLowBalanceAlert } from "@/credits/set-low-balance-alert";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * GET /api/credits/low-balance-alert: the signed-in user's low-balance alert: `threshold` (`{credits}`,
 * `{percent}` or null), `effectiveThreshold` (credits, a percentage resolved against the plan in force),
 * `available` (credits) and `low` (the banner: true from the spend that crossed below the threshold until
 * the balance is back at or above it), with `crossedAt` (ISO 8601).
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/low-balance-alert",
  handler: withUser(async (_request, user) => {
    const alert = await getLowBalanceAlert(await getDb(), user.id);
    return Response.json(alert, { headers: { "cache-control": "no-store" } });
  }),
});

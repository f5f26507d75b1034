import { listExpiringCredits } from "@/credits/list-expiring-credits";
import { getDb } from "@/db/client";
import { withUser } from "@/server/with-user";

export const dynamic = "force-dynamic";

/** Credits that expire in the next 30 days, soonest first. */
export const GET = withUser(async (_request, user) => {
  return Response.json(await listExpiringCredits(await getDb(), user.id, 30));
});

import { getBalance } from "@/credits/get-balance";
import { getDb } from "@/db/client";
import { withUser } from "@/server/with-user";

export const dynamic = "force-dynamic";

export const GET = withUser(async (_request, user) => {
  const balance = await getBalance(await getDb(), user.id);
  return Response.json(balance, { headers: { "cache-control": "no-store" } });
});

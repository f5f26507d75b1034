import { getBalance } from "@/credits/get-balance";
import { assertUserExists, withApiKey } from "@/server/with-api-key";

export const dynamic = "force-dynamic";

export const GET = withApiKey<{ userId: string }>(async ({ db, params }) => {
  await assertUserExists(db, params.userId);
  return Response.json(await getBalance(db, params.userId));
});

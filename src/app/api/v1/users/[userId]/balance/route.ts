import { getBalance } from "@/credits/get-balance";
import { jsonResponse } from "@/server/json-response";
import { assertUserExists, withApiKey } from "@/server/with-api-key";

export const dynamic = "force-dynamic";

export const GET = withApiKey<{ userId: string }>(async ({ db, params }) => {
  await assertUserExists(db, params.userId);
  return jsonResponse(await getBalance(db, params.userId));
});

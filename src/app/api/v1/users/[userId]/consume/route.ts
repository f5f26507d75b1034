import { jsonResponse } from "@/server/json-response";
import { readJsonBody } from "@/server/request";
import { readIdempotencyKey, withApiKey } from "@/server/with-api-key";
import { apiConsume } from "@/service-api/api-consume";
import { consumeBodySchema } from "@/service-api/schemas";

/** The busiest route: one database round trip (see apiConsume), same contract as the other mutations. */
export const POST = withApiKey<{ userId: string }>(async ({ request, db, caller, params }) => {
  const idempotencyKey = readIdempotencyKey(request);
  const body = await readJsonBody(request, consumeBodySchema);
  const result = await apiConsume(db, {
    apiKeyId: caller.apiKeyId,
    apiKeyName: caller.apiKeyName,
    idempotencyKey,
    path: new URL(request.url).pathname,
    userId: params.userId,
    body,
  });
  return jsonResponse(result.body, {
    status: result.status,
    headers: result.replayed ? { "idempotent-replayed": "true" } : {},
  });
});

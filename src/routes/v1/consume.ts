import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { readJsonBody } from "@/server/request";
import { readIdempotencyKey, withApiKey } from "@/server/with-api-key";
import { apiConsume } from "@/service-api/api-consume";
import { consumeBodySchema, entryResponseSchema } from "@/service-api/schemas";

/**
 * POST /api/v1/users/{userId}/consume: spends credits now, all or nothing. The busiest route: one database
 * round trip (see apiConsume), the same contract as the other mutations.
 */
export default defineRoute({
  method: "POST",
  path: "/api/v1/users/{userId}/consume",
  scope: "spend",
  operation: {
    summary: "Spend credits",
    description: "Spends credits now, soonest-expiring first. All or nothing.",
    body: consumeBodySchema,
    ok: { status: 200, schema: entryResponseSchema },
    errors: [400, 401, 402, 404, 409],
    replayedErrors: [402],
  },
  handler: withApiKey<{ userId: string }>(async ({ request, db, caller, params }) => {
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
  }),
});

import { addCredits } from "@/credits/add-credits";
import { defineRoute } from "@/server/define-route";
import { assertUserExists, withApiMutation } from "@/server/with-api-key";
import { apiLedgerKey } from "@/service-api/api-ledger-key";
import { recordApiUse } from "@/service-api/record-api-use";
import { grantBodySchema, grantResponseSchema } from "@/service-api/schemas";

/** POST /api/v1/users/{userId}/grants: adds a lot of credits (optionally expiring); debt is repaid first. */
export default defineRoute({
  method: "POST",
  path: "/api/v1/users/{userId}/grants",
  scope: "grant",
  operation: {
    summary: "Grant credits",
    description: "Adds a lot of credits, optionally expiring. Outstanding debt is repaid from it first.",
    body: grantBodySchema,
    ok: { status: 201, schema: grantResponseSchema },
    errors: [400, 401, 404, 409],
  },
  handler: withApiMutation<{ userId: string }, typeof grantBodySchema>(
    grantBodySchema,
    async ({ tx, caller, params, body, idempotencyKey }) => {
      await assertUserExists(tx, params.userId);
      // An expiresAt that is not in the future is refused by addCredits, by the database's clock.
      const expiresAt = body.expiresAt ? new Date(body.expiresAt) : undefined;
      const result = await addCredits(tx, {
        userId: params.userId,
        amount: body.amount,
        type: "grant",
        description: body.description ?? `Granted via API key ${caller.apiKeyName}`,
        idempotencyKey: apiLedgerKey(caller.apiKeyId, idempotencyKey),
        ...(expiresAt ? { expiresAt } : {}),
        ...(body.category ? { category: body.category } : {}),
      });
      await recordApiUse(tx, caller, "credits.grant", params.userId, {
        amount: body.amount,
        entryId: result.entryId,
      });
      return {
        status: 201,
        body: { entryId: String(result.entryId), lotId: result.lotId, balance: result.balance },
      };
    },
  ),
});

import { recordAudit } from "@/audit/record-audit";
import { addCredits } from "@/credits/add-credits";
import { assertUserExists, withApiMutation } from "@/server/with-api-key";
import { apiLedgerKey } from "@/service-api/api-ledger-key";
import { grantBodySchema } from "@/service-api/schemas";

export const POST = withApiMutation<{ userId: string }, typeof grantBodySchema>(
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
    await recordAudit(
      tx,
      { userId: null, label: `api-key:${caller.apiKeyName}` },
      "credits.grant",
      params.userId,
      {
        amount: body.amount,
        entryId: result.entryId,
      },
    );
    return {
      status: 201,
      body: { entryId: String(result.entryId), lotId: result.lotId, balance: result.balance },
    };
  },
);

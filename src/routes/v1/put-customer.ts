import { upsertCustomer } from "@/credits/upsert-customer";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { readJsonBody } from "@/server/request";
import { withApiKey } from "@/server/with-api-key";
import { customerBody, customerBodySchema, customerResponseSchema } from "@/service-api/customer-schemas";
import { recordApiUse } from "@/service-api/record-api-use";

/**
 * PUT /api/v1/customers/{externalId}: creates the customer with this external id (201) or updates it (200).
 * Idempotent by nature, so it takes no Idempotency-Key: the same PUT again leaves the same customer, and
 * concurrent identical PUTs make one account (src/credits/upsert-customer.ts). A field left out keeps its
 * value; `null` clears it. 400 for an external id outside the rule or a bad body. Scope `admin`: customer
 * management, like endpoint management, is for the operator's own integration, not a metering key.
 */
export default defineRoute({
  method: "PUT",
  path: "/api/v1/customers/{externalId}",
  scope: "admin",
  operation: {
    summary: "Create or update a customer",
    description:
      "Creates an account for a customer of your system, named by your own id (no sign-in), or updates its email, name or metadata. 201 when created, 200 when updated. A field left out keeps its value; `null` clears it. External ids: 1-255 characters, each a letter, a digit, or one of `_ - . : @ |` (case-sensitive), unique per installation. No Idempotency-Key: the same PUT twice leaves the same customer.",
    body: customerBodySchema,
    ok: { status: 200, schema: customerResponseSchema },
    alsoOk: { status: 201, description: "Created" },
    errors: [400],
  },
  handler: withApiKey<{ externalId: string }>(async ({ request, db, caller, params }) => {
    const body = await readJsonBody(request, customerBodySchema);
    // The change and its audit entry commit together, or neither does.
    const { customer, created } = await db.transaction(async (tx) => {
      const result = await upsertCustomer(tx, params.externalId, body);
      await recordApiUse(
        tx,
        caller,
        result.created ? "customer.create" : "customer.update",
        result.customer.userId,
        { externalId: result.customer.externalId, fields: Object.keys(body) },
      );
      return result;
    });
    return jsonResponse(customerBody(customer), { status: created ? 201 : 200 });
  }),
});

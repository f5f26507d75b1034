import { CustomerNotFoundError } from "@/credits/errors";
import { findCustomer } from "@/credits/find-customer";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { withApiKey } from "@/server/with-api-key";
import { customerBody, customerWithBalanceResponseSchema } from "@/service-api/customer-schemas";
import { readAccountBalance } from "@/service-api/read-account-balance";

/**
 * GET /api/v1/customers/{externalId}: the customer and its balance (the shape of GET …/balance).
 * 404 `customer_not_found` for an unknown external id, 400 for one outside the rule.
 */
export default defineRoute({
  method: "GET",
  path: "/api/v1/customers/{externalId}",
  scope: "read",
  operation: {
    summary: "Get a customer",
    description:
      "The customer with this external id (email, name, metadata, its account id `userId`) and its balance, in the shape of GET /users/{userId}/balance.",
    ok: { status: 200, schema: customerWithBalanceResponseSchema },
    errors: [400, 404],
  },
  handler: withApiKey<{ externalId: string }>(async ({ db, params }) => {
    const customer = await findCustomer(db, params.externalId);
    if (!customer) throw new CustomerNotFoundError(params.externalId);
    return jsonResponse({
      ...customerBody(customer),
      balance: await readAccountBalance(db, customer.userId),
    });
  }),
});

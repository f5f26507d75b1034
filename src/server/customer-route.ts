import { resolveCustomerAccount } from "@/credits/find-customer";
import type { Database } from "@/db/types";
import { defineRoute, type RouteDefinition } from "./define-route";

const USER_PREFIX = "/api/v1/users/{userId}/";
const CUSTOMER_PREFIX = "/api/v1/customers/{externalId}/";

/** `{externalId}` → the customer's account id as `{userId}`; 404 `customer_not_found`, 400 for a bad id. */
async function customerParams(db: Database, params: Record<string, string>): Promise<Record<string, string>> {
  const { externalId, ...rest } = params;
  return { ...rest, userId: await resolveCustomerAccount(db, externalId ?? "") };
}

/**
 * The customer's twin of a user-scoped service-API route: `/api/v1/users/{userId}/x` served again as
 * `/api/v1/customers/{externalId}/x` with the same handler, scope, body, answers and limits. The only step
 * added runs after the key and its scope are checked: the external id is resolved to the customer's account
 * id (src/credits/find-customer.ts), never created, so an unknown id is 404 `customer_not_found` and an id
 * outside the rule is 400 `invalid_input`. The handler then runs as for a user, with that id as `userId`:
 * one definition per route, so a rule changed for users is changed for customers.
 */
export function customerRoute(userRoute: RouteDefinition): RouteDefinition {
  const { scopedHandler, operation, path } = userRoute;
  if (!path.startsWith(USER_PREFIX) || !scopedHandler || !operation)
    throw new Error(`${path}: only a service-API route under ${USER_PREFIX} has a customer twin`);
  return defineRoute({
    ...userRoute,
    path: `${CUSTOMER_PREFIX}${path.slice(USER_PREFIX.length)}`,
    operation: {
      ...operation,
      summary: `${operation.summary} (customer by external id)`,
      description: `${operation.description}\n\nThe account is the customer's with this external id (made by PUT /customers/{externalId}); 404 \`customer_not_found\` when there is none (nothing is created), 400 for an external id outside the documented alphabet.`,
      errors: [...new Set([...operation.errors, 400, 404])],
    },
    handler: { forScope: (scope) => scopedHandler.forScope(scope, { resolveParams: customerParams }) },
  });
}

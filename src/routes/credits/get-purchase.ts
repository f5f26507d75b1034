import { getDb } from "@/db/client";
import { getPurchaseForUser } from "@/payment/get-purchase";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/** GET /api/credits/purchases/{purchaseId}: one of the signed-in user's purchases and its status. */
export default defineRoute({
  method: "GET",
  path: "/api/credits/purchases/{purchaseId}",
  handler: withUser<{ purchaseId: string }>(async (_request, user, { purchaseId }) => {
    return Response.json(await getPurchaseForUser(await getDb(), user.id, purchaseId));
  }),
});

import { getDb } from "@/db/client";
import { getPurchaseForUser } from "@/payment/get-purchase";
import { withUser } from "@/server/with-user";

export const dynamic = "force-dynamic";

export const GET = withUser<{ purchaseId: string }>(async (_request, user, { purchaseId }) => {
  return Response.json(await getPurchaseForUser(await getDb(), user.id, purchaseId));
});

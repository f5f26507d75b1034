import { handleCustomerSubscriptionSnapshot } from "./customer-subscription-created";

/**
 * `customer.subscription.deleted`: the subscription has ended (`canceled`, with `ended_at`). Recorded like
 * every snapshot, forward only, so no later event reopens it. Future grants stop because no invoice comes
 * any more; credits already granted are kept until their own expiry: nothing here touches the ledger.
 */
export const handleCustomerSubscriptionDeleted = handleCustomerSubscriptionSnapshot;

import { handleCustomerSubscriptionSnapshot } from "./customer-subscription-created";

/**
 * `customer.subscription.updated`: the same as `created` (a reordered delivery may bring either first):
 * link if needed and record the newer state, never grant.
 */
export const handleCustomerSubscriptionUpdated = handleCustomerSubscriptionSnapshot;

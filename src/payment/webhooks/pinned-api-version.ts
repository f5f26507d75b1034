import type Stripe from "stripe";
import { STRIPE_API_VERSION } from "../stripe/api-version";
import { UnknownEventValueError } from "../types";

/**
 * Refuses an event of another API version than the pinned one (UnknownEventValueError: stored as a failed
 * webhook and retried, never acknowledged). The subscription handlers read shapes that changed between
 * versions: in versions before 2025-03-31 an invoice named its subscription at the top level and had no
 * `parent`, so an old-shaped `invoice.paid` would read as "not a subscription invoice" and its credits
 * would be silently lost. The README tells operators to create the endpoint with STRIPE_API_VERSION.
 */
export function requirePinnedApiVersion(event: Stripe.Event): void {
  if (event.api_version !== STRIPE_API_VERSION)
    throw new UnknownEventValueError(
      `Event ${event.id} is in API version ${event.api_version ?? "(none)"}; subscription events are read in ${STRIPE_API_VERSION}.`,
      { eventId: event.id, apiVersion: event.api_version },
    );
}

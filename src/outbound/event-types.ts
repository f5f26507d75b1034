import { z } from "zod";

/**
 * Every outbound event type, as the triggers of sql/outbound-events.sql write them. An endpoint names the
 * ones it wants; an event nobody wants is not written at all.
 */
export const OUTBOUND_EVENT_TYPES = [
  "credits.granted",
  "credits.consumed",
  "credits.expired",
  "credits.clawed_back",
  "balance.low",
  "balance.depleted",
  "balance.recovered",
  "purchase.succeeded",
  "purchase.refunded",
  "purchase.disputed",
  "hold.expired",
  "subscription.started",
  "subscription.updated",
  "subscription.canceled",
] as const;

export type OutboundEventType = (typeof OUTBOUND_EVENT_TYPES)[number];

export const outboundEventTypeSchema = z.enum(OUTBOUND_EVENT_TYPES);

/**
 * The body of every delivery (and the `payload` column of outbound_event). `createdAt` is ISO 8601 UTC;
 * credits are integers; money is in the currency's minor units. `account.externalId` is null until accounts
 * have external ids.
 */
export type OutboundEvent = {
  id: string;
  type: OutboundEventType;
  createdAt: string;
  account: { userId: string; externalId: string | null };
  data: Record<string, unknown>;
};

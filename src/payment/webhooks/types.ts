import type Stripe from "stripe";
import type { DatabaseOrTransaction } from "@/db/types";
import type { PaymentProvider } from "../types";

/**
 * What a handler may need besides the event. `now` is for tests only (they move through time):
 * production judges expiry by the database's clock (src/credits/database-clock.ts). `provider` answers
 * an object's current state where the event alone cannot tell (two reports of a subscription in the same
 * second); ask it before taking row locks, so no lock but the event id's waits on the network.
 */
export type WebhookContext = { now?: Date; provider?: () => PaymentProvider };

/**
 * One handler per event type. It runs inside the transaction that records the event id, so its
 * effects and the "seen" mark commit together or not at all. It returns a short outcome for the log.
 */
export type WebhookHandler = (
  tx: DatabaseOrTransaction,
  event: Stripe.Event,
  context?: WebhookContext,
) => Promise<string>;

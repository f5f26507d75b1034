import type Stripe from "stripe";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * One handler per event type. It runs inside the transaction that records the event id, so its
 * effects and the "seen" mark commit together or not at all. It returns a short outcome for the log.
 */
export type WebhookHandler = (tx: DatabaseOrTransaction, event: Stripe.Event) => Promise<string>;

import { handleRefundStatus } from "./refund-status";
import type { WebhookHandler } from "./types";

/** `charge.refund.updated`: one Refund's newest status (see refund-status.ts). */
export const handleChargeRefundUpdated: WebhookHandler = handleRefundStatus;

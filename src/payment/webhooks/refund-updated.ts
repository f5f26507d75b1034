import { handleRefundStatus } from "./refund-status";
import type { WebhookHandler } from "./types";

/** `refund.updated`: one Refund's newest status (see refund-status.ts). */
export const handleRefundUpdated: WebhookHandler = handleRefundStatus;

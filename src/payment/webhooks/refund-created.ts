import { handleRefundStatus } from "./refund-status";
import type { WebhookHandler } from "./types";

/** `refund.created`: one Refund's newest status (see refund-status.ts). */
export const handleRefundCreated: WebhookHandler = handleRefundStatus;

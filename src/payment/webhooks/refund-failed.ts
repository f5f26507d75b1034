import { handleRefundStatus } from "./refund-status";
import type { WebhookHandler } from "./types";

/** `refund.failed`: one Refund's newest status (see refund-status.ts). */
export const handleRefundFailed: WebhookHandler = handleRefundStatus;

import pino from "pino";

/**
 * Structured logs. Money paths log eventId, userId, purchaseId and entryId as fields so an operator
 * can follow one payment from PaymentIntent to ledger entry.
 */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "silent" : "info"),
  base: { app: "creditkit" },
});

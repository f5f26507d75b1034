import pino from "pino";

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

/**
 * LOG_LEVEL as pino takes it. A value pino does not know would make pino throw while this module loads,
 * before the configuration is checked, and stop the server with a stack trace; such a value is left to
 * the configuration check (src/config/env.ts), which names it in its one message, and the default is
 * used until then.
 */
function logLevel(): string {
  const configured = process.env.LOG_LEVEL?.trim() ?? "";
  if (LEVELS.has(configured)) return configured;
  return process.env.NODE_ENV === "test" ? "silent" : "info";
}

/**
 * Structured logs. Money paths log eventId, userId, purchaseId and entryId as fields so an operator
 * can follow one payment from PaymentIntent to ledger entry.
 */
export const logger = pino({ level: logLevel(), base: { app: "creditkit" } });

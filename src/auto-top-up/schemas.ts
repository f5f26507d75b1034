import { z } from "zod";
import { POSTGRES_INTEGER_MAX } from "@/catalog/packages";
import { MAX_CREDITS_PER_OPERATION } from "@/credits/schemas";

/**
 * The body of PUT /api/credits/auto-top-up: on or off, the package to buy, the threshold (whole credits
 * ≥ 1: the available balance falling below it starts a top-up) and the monthly cap (minor units of the
 * package's currency; checked against the package's price by saveAutoTopUp), and the language of its
 * emails (the page's locale).
 */
export const autoTopUpBodySchema = z
  .object({
    enabled: z.boolean(),
    packageId: z.string().min(1).max(64),
    thresholdCredits: z.number().int().min(1).max(Math.min(MAX_CREDITS_PER_OPERATION, POSTGRES_INTEGER_MAX)),
    monthlyCapAmount: z.number().int().min(1).max(POSTGRES_INTEGER_MAX),
    locale: z.enum(["en", "zh"]).optional(),
  })
  .strict();
export type AutoTopUpBody = z.infer<typeof autoTopUpBodySchema>;

/** The body of POST /api/credits/auto-top-up/card: the SetupIntent the browser confirmed. */
export const saveCardBodySchema = z.object({ setupIntentId: z.string().min(1).max(255) }).strict();

/** What the credits page shows of an attempt. */
export type AutoTopUpAttemptView = {
  id: string;
  status: "pending" | "processing" | "requires_action" | "succeeded" | "failed" | "canceled";
  packageId: string;
  /** Minor units of `currency`. */
  amount: number;
  currency: string;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: string;
  finishedAt: string | null;
};

/**
 * GET /api/credits/auto-top-up's answer. `status`: `off`; `ok` (on, nothing wrong); `action_required`
 * (a top-up waits for the cardholder: `action` has what the page confirms it with); `failed` (the last
 * top-up was declined; still on); `disabled` (turned itself off: `disabledReason` `three_failures`,
 * `package_unavailable` when its package left the catalog, `price_above_limit` when its new price is
 * above the monthly limit); `waiting_for_provider` (a top-up is in flight without an answer from the
 * provider yet: retried, never given up while it may have been charged, counted against the cap);
 * `cap_reached` (this month's cap stopped a top-up). Amounts in minor units of `currency`; the month is
 * the calendar month in UTC.
 */
export type AutoTopUpView = {
  enabled: boolean;
  /** False until the user saved a setting or a card: the fields then hold the defaults the page proposes. */
  configured: boolean;
  packageId: string;
  thresholdCredits: number;
  monthlyCapAmount: number;
  currency: string;
  card: { brand: string; last4: string } | null;
  month: { spent: number; cap: number };
  consecutiveFailures: number;
  disabledReason: string | null;
  status: "off" | "ok" | "action_required" | "waiting_for_provider" | "failed" | "disabled" | "cap_reached";
  /** The top-up waiting for the cardholder: the page confirms its PaymentIntent (pay dialog). */
  action: { attemptId: string; purchaseId: string; paymentIntentId: string; clientSecret: string } | null;
  attempts: AutoTopUpAttemptView[];
};

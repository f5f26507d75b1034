import type Stripe from "stripe";
import type { Plan } from "@/catalog/plans";
import type { SubscriptionRow } from "./lock-subscription";

/** One line of a paid subscription invoice, with what every line's grant needs to know. */
export type PaidInvoiceLine = {
  subscription: SubscriptionRow;
  invoice: Stripe.Invoice;
  line: Stripe.InvoiceLineItem;
  providerSubscriptionId: string;
  /** The plan of the line's price (plan-prices.ts). */
  plan: Plan;
  /** The line's billing period (`line.period`, seconds → Date). */
  period: { start: Date; end: Date };
  /** True when the invoice took money (`amount_paid > 0`): its credits are `paid`, else `promotional`. */
  paidMoney: boolean;
};

/** Whether an invoice line is a proration (a plan change's remainder), in the API version's shape. */
export function isProrationLine(line: Stripe.InvoiceLineItem): boolean {
  return Boolean(
    line.parent?.subscription_item_details?.proration ?? line.parent?.invoice_item_details?.proration,
  );
}

/** The price an invoice line bills (`pricing.price_details.price`), an id or an expanded Price. */
export function priceIdOfLine(line: Stripe.InvoiceLineItem): string | undefined {
  const price = line.pricing?.price_details?.price;
  return typeof price === "string" ? price : price?.id;
}

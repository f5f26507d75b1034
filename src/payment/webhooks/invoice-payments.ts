import type Stripe from "stripe";
import type { DatabaseOrTransaction } from "@/db/types";
import { paymentIntentOfInvoice } from "../subscriptions/invoice-purchase";
import type { WebhookContext } from "./types";

/**
 * The invoice with the payment that paid it. Since API version 2025-03-31 an invoice lists its payments
 * under `payments`, which webhook events never expand, while a refund or dispute of the invoice names only
 * its PaymentIntent: without it the invoice's purchase could not be matched to them (invoice-purchase.ts).
 * So a paid invoice that took money and lists no PaymentIntent is completed from the provider
 * (PaymentProvider.retrieveInvoicePaymentIntent: Stripe's `GET /v1/invoice_payments?invoice=`), asked
 * before any row is locked. An unreachable provider fails the event (PaymentProviderUnavailableError), and
 * Stripe's retry applies it whole later: granting now and matching refunds never would lose money.
 */
export async function withInvoicePayments(
  tx: DatabaseOrTransaction,
  invoice: Stripe.Invoice,
  context: WebhookContext | undefined,
): Promise<Stripe.Invoice> {
  if (!(invoice.amount_paid > 0) || paymentIntentOfInvoice(invoice) || !context?.provider) return invoice;
  const paymentIntentId = await context.provider().retrieveInvoicePaymentIntent(invoice.id ?? "", tx);
  if (!paymentIntentId) return invoice;
  const payment = {
    object: "invoice_payment",
    invoice: invoice.id,
    is_default: true,
    status: "paid",
    payment: { type: "payment_intent", payment_intent: paymentIntentId },
  } as unknown as Stripe.InvoicePayment;
  return { ...invoice, payments: { object: "list", data: [payment], has_more: false, url: "" } };
}

import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "../types";
import type { PaidInvoiceLine } from "./invoice-line";

/**
 * The credits of a paid yearly line: twelve monthly slots. Not applied yet: refused with
 * UnknownEventValueError, so the event is stored and retried rather than granted wrongly or dropped.
 */
export async function scheduleYearlySlots(
  _tx: DatabaseOrTransaction,
  input: PaidInvoiceLine,
  _now?: Date,
): Promise<string> {
  throw new UnknownEventValueError(
    `Invoice ${input.invoice.id} is for a yearly plan, not granted monthly yet.`,
    {
      invoiceId: input.invoice.id,
      planId: input.plan.id,
    },
  );
}

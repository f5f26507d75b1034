import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "../types";
import type { PaidInvoiceLine } from "./invoice-line";

/**
 * The credits of a paid proration line (an upgrade mid-period). Not applied yet: refused with
 * UnknownEventValueError, so the event is stored and retried rather than granted wrongly or dropped.
 */
export async function grantProrationLine(
  _tx: DatabaseOrTransaction,
  input: PaidInvoiceLine,
  _now?: Date,
): Promise<string> {
  throw new UnknownEventValueError(
    `Invoice ${input.invoice.id} has proration lines, which are not applied yet.`,
    {
      invoiceId: input.invoice.id,
      lineId: input.line.id,
    },
  );
}

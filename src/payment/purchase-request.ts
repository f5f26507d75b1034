import { z } from "zod";

/**
 * The body of a purchase request. Only `packageId` means anything. Price and credit fields a client may
 * still send (older clients, tampering) are accepted and dropped, so they can never decide what is charged
 * or granted; any other unknown field is refused as a malformed request.
 */
export const purchaseRequestSchema = z
  .object({
    packageId: z.string().min(1).max(64),
    price: z.unknown().optional(),
    amount: z.unknown().optional(),
    credits: z.unknown().optional(),
    currency: z.unknown().optional(),
  })
  .strict()
  .transform(({ packageId }) => ({ packageId }));

/** A parsed purchase request: the package only. */
export type PurchaseRequest = z.output<typeof purchaseRequestSchema>;

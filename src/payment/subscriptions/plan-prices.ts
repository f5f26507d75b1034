import { eq } from "drizzle-orm";
import { findPlan, type Plan } from "@/catalog/plans";
import { planPrice } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "../types";

/**
 * The lookup key of a plan's price at the provider: `creditkit:<planId>:<amount>:<currency>`. The amount
 * is part of it because a provider's price cannot change: a new amount needs a new price, and invoices of
 * the old one must still map to the plan.
 */
export function planLookupKey(plan: Plan): string {
  if (!plan.price) throw new Error(`plan ${plan.id} has no price`);
  return `creditkit:${plan.id}:${plan.price.amount}:${plan.price.currency}`;
}

/**
 * The plan an invoice line's price belongs to (plan_price, then the catalog). Refuses an unknown price or
 * a plan no longer in the catalog with UnknownEventValueError: guessing the plan could grant the wrong
 * credits, and the stored, retried event applies once the price is known.
 */
export async function planOfPrice(tx: DatabaseOrTransaction, priceId: string): Promise<Plan> {
  const [row] = await tx.select().from(planPrice).where(eq(planPrice.priceId, priceId));
  const plan = row ? findPlan(row.planId) : undefined;
  if (!plan)
    throw new UnknownEventValueError(`Price ${priceId} is not the price of any plan.`, {
      priceId,
      planId: row?.planId,
    });
  return plan;
}

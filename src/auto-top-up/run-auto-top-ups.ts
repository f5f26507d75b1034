import { sql } from "drizzle-orm";
import { findPackageOnSale, packageName } from "@/catalog/packages";
import { sqlRows } from "@/credits/sql-rows";
import { creditPurchase } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import {
  PaymentCustomerMissingError,
  type PaymentProvider,
  PaymentProviderUnavailableError,
} from "@/payment/types";
import { outcomeOf, settleAttempt } from "./settle-attempt";

/**
 * How long a worker keeps an attempt it took: beyond the Stripe client's timeout (15 s, one network retry),
 * so a live worker is never overtaken, while one that died gives the attempt up when it ends; the next
 * worker charges it again under the same idempotency key, which answers the same PaymentIntent.
 */
export const AUTO_TOP_UP_LEASE_SECONDS = 60;

/** Tries at reaching the provider before an attempt is given up as failed (`provider_unavailable`). */
export const AUTO_TOP_UP_MAX_TRIES = 8;

/** Seconds before the next try after the `tries`-th could not reach the provider: 30 s, doubling, at most 30 minutes. */
export function autoTopUpRetryDelaySeconds(tries: number): number {
  return Math.min(30 * 2 ** Math.max(tries - 1, 0), 1800);
}

export type ClaimedAttempt = {
  id: string;
  user_id: string;
  package_id: string;
  amount: number;
  currency: string;
  tries: number;
  purchase_id: string | null;
  detail: { paymentMethodId?: string; customerId?: string; description?: string } | null;
};

export type AutoTopUpPassOptions = { limit?: number; now?: Date };

/**
 * Takes the attempts due now and leases them to this worker, counting the try, in one statement:
 * `pending` ones, and `processing` ones whose lease ran out (a worker died). FOR UPDATE SKIP LOCKED: workers
 * on several instances take disjoint attempts and never wait on each other. Exported for the tests that
 * play a worker dying after the charge.
 */
export async function claimDueAttempts(
  db: Database,
  options: AutoTopUpPassOptions = {},
): Promise<ClaimedAttempt[]> {
  const now = options.now ? sql`${options.now.toISOString()}::timestamptz` : sql`now()`;
  return sqlRows<ClaimedAttempt>(
    await db.execute(sql`
      WITH due AS (
        SELECT a.id FROM auto_top_up_attempt a
        WHERE a.status IN ('pending', 'processing') AND a.next_try_at <= ${now}
          AND (a.leased_until IS NULL OR a.leased_until <= ${now})
        ORDER BY a.next_try_at
        LIMIT ${options.limit ?? 20}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE auto_top_up_attempt a SET status = 'processing', tries = a.tries + 1, updated_at = now(),
        leased_until = ${now} + make_interval(secs => ${AUTO_TOP_UP_LEASE_SECONDS})
      FROM due WHERE a.id = due.id
      RETURNING a.id, a.user_id, a.package_id, a.amount, a.currency, a.tries, a.purchase_id, a.detail`),
  );
}

type Prepared =
  | { kind: "charge"; purchaseId: string; paymentMethodId: string; customerId: string; description: string }
  | { kind: "canceled"; reason: string };

/**
 * Makes the attempt's purchase once, before any charge: the purchase row (a snapshot of the package, as
 * every purchase has) and, on the attempt, its id with the card and customer to charge. A retry of the
 * attempt finds them and sends the provider the very same request, so the idempotency key answers the same
 * PaymentIntent (a changed request under one key would be refused by Stripe as an idempotency_error).
 * Before the first charge the setting is checked again: turned off, card removed, or the package changed
 * price or left the catalog → the attempt is canceled, nothing charged.
 */
async function prepare(db: Database, provider: PaymentProvider, attempt: ClaimedAttempt): Promise<Prepared> {
  const ready = (purchaseId: string, detail: ClaimedAttempt["detail"]): Prepared | undefined =>
    detail?.paymentMethodId && detail.customerId && detail.description
      ? {
          kind: "charge",
          purchaseId,
          paymentMethodId: detail.paymentMethodId,
          customerId: detail.customerId,
          description: detail.description,
        }
      : undefined;
  if (attempt.purchase_id) {
    const known = ready(attempt.purchase_id, attempt.detail);
    if (known) return known;
  }
  return db.transaction(async (tx) => {
    const [row] = sqlRows<ClaimedAttempt & { status: string }>(
      await tx.execute(sql`
        SELECT id, user_id, package_id, amount, currency, tries, purchase_id, detail, status
        FROM auto_top_up_attempt WHERE id = ${attempt.id} FOR UPDATE`),
    );
    if (row?.status !== "processing") return { kind: "canceled", reason: "settled_meanwhile" };
    if (row.purchase_id) {
      const known = ready(row.purchase_id, row.detail);
      if (known) return known;
    }
    const [setting] = sqlRows<{
      enabled: boolean;
      payment_method_id: string | null;
      customer_id: string | null;
    }>(
      await tx.execute(sql`
        SELECT s.enabled, s.payment_method_id, c.customer_id FROM auto_top_up s
        LEFT JOIN payment_customer c ON c.user_id = s.user_id AND c.provider = ${provider.name}
        WHERE s.user_id = ${row.user_id}`),
    );
    if (!setting?.enabled) return { kind: "canceled", reason: "turned_off" };
    if (!setting.payment_method_id || !setting.customer_id) return { kind: "canceled", reason: "no_card" };
    const pkg = findPackageOnSale(row.package_id);
    if (!pkg || pkg.price.amount !== row.amount || pkg.price.currency !== row.currency)
      return { kind: "canceled", reason: "package_changed" };
    const [purchase] = await tx
      .insert(creditPurchase)
      .values({
        userId: row.user_id,
        packageId: pkg.id,
        credits: pkg.credits,
        amount: pkg.price.amount,
        currency: pkg.price.currency,
        expireDays: pkg.expireDays ?? null,
        provider: provider.name,
        status: "pending",
      })
      .returning({ id: creditPurchase.id });
    if (!purchase) throw new Error("purchase was not written");
    const detail = {
      paymentMethodId: setting.payment_method_id,
      customerId: setting.customer_id,
      description: `${pkg.credits} credits (${packageName(pkg)} package, auto top-up)`,
    };
    await tx.execute(sql`
      UPDATE auto_top_up_attempt SET purchase_id = ${purchase.id}, detail = ${JSON.stringify(detail)}::jsonb,
        updated_at = now()
      WHERE id = ${row.id}`);
    return { kind: "charge", purchaseId: purchase.id, ...detail };
  });
}

/**
 * Charges one claimed attempt off-session and settles it with the provider's answer (settleAttempt).
 * Credits are not granted here: the purchase is granted by its `payment_intent.succeeded`, exactly once,
 * like every purchase (the sandbox delivers that event before it answers). Provider unreachable → tried
 * again with backoff under the same key, given up as `failed` (`provider_unavailable`) after
 * AUTO_TOP_UP_MAX_TRIES; the customer gone at the provider → `failed` (`customer_missing`).
 */
export async function chargeAttempt(
  db: Database,
  provider: PaymentProvider,
  attempt: ClaimedAttempt,
): Promise<string | undefined> {
  const log = logger.child({ userId: attempt.user_id, attemptId: attempt.id });
  const prepared = await prepare(db, provider, attempt);
  if (prepared.kind === "canceled") {
    if (prepared.reason === "settled_meanwhile") return undefined;
    return db.transaction((tx) =>
      settleAttempt(tx, attempt.id, { status: "canceled", reason: prepared.reason }),
    );
  }
  let charge: Awaited<ReturnType<PaymentProvider["chargeOffSession"]>>;
  try {
    charge = await provider.chargeOffSession({
      amount: attempt.amount,
      currency: attempt.currency,
      description: prepared.description,
      metadata: {
        purchaseId: prepared.purchaseId,
        userId: attempt.user_id,
        packageId: attempt.package_id,
        autoTopUpAttemptId: attempt.id,
      },
      // One key per attempt: however often the charge is retried (a crash, a lost answer, two workers),
      // the provider makes one PaymentIntent for it.
      idempotencyKey: `auto-top-up:${attempt.id}`,
      customerId: prepared.customerId,
      paymentMethodId: prepared.paymentMethodId,
    });
  } catch (error) {
    if (error instanceof PaymentCustomerMissingError)
      return db.transaction((tx) =>
        settleAttempt(tx, attempt.id, {
          status: "failed",
          error: {
            code: "customer_missing",
            declineCode: null,
            message: "The saved card is no longer available.",
          },
        }),
      );
    if (!(error instanceof PaymentProviderUnavailableError)) throw error;
    if (attempt.tries >= AUTO_TOP_UP_MAX_TRIES) {
      log.error({ err: error }, "auto top-up: the payment provider stayed unreachable; given up");
      return db.transaction((tx) =>
        settleAttempt(tx, attempt.id, {
          status: "failed",
          error: { code: "provider_unavailable", declineCode: null, message: error.message },
        }),
      );
    }
    log.warn(
      { err: error, tries: attempt.tries },
      "auto top-up: the payment provider is unreachable; will retry",
    );
    await db.execute(sql`
      UPDATE auto_top_up_attempt SET leased_until = NULL, updated_at = now(),
        next_try_at = now() + make_interval(secs => ${autoTopUpRetryDelaySeconds(attempt.tries)})
      WHERE id = ${attempt.id} AND status = 'processing'`);
    return "processing";
  }
  // The PaymentIntent's id on the purchase (the webhook also adopts it by metadata if this never runs).
  await db.execute(sql`
    UPDATE credit_purchase SET payment_intent_id = ${charge.paymentIntentId}, updated_at = now()
    WHERE id = ${prepared.purchaseId} AND payment_intent_id IS NULL`);
  return db.transaction((tx) => settleAttempt(tx, attempt.id, outcomeOf(charge)));
}

export type AutoTopUpPassResult = { charged: number };

/**
 * Passes of the auto top-up worker until nothing is due (at most `maxPasses`): takes due attempts
 * (claimDueAttempts) and charges each (chargeAttempt). What the scheduled job runs, every 2 seconds
 * (pg-boss on PostgreSQL, an in-process timer on PGlite; src/jobs/start-jobs.ts). A failure of one
 * attempt is logged and leaves it to its lease; the others go on.
 */
export async function runAutoTopUps(
  db: Database,
  provider: PaymentProvider,
  options: AutoTopUpPassOptions & { maxPasses?: number; shouldStop?: () => boolean } = {},
): Promise<AutoTopUpPassResult> {
  let charged = 0;
  for (let pass = 0; pass < (options.maxPasses ?? 10); pass++) {
    if (options.shouldStop?.()) break;
    const claimed = await claimDueAttempts(db, options);
    if (claimed.length === 0) break;
    for (const attempt of claimed) {
      try {
        await chargeAttempt(db, provider, attempt);
        charged++;
      } catch (error) {
        logger.error(
          { err: error, attemptId: attempt.id, userId: attempt.user_id },
          "auto top-up attempt failed",
        );
      }
    }
  }
  return { charged };
}

import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { findPackageOnSale } from "@/catalog/packages";
import { sqlRows } from "@/credits/sql-rows";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { purchaseDescription, recordPendingPurchase } from "@/payment/record-pending-purchase";
import {
  PaymentCustomerMissingError,
  PaymentMethodMissingError,
  type PaymentProvider,
  PaymentProviderUnavailableError,
} from "@/payment/types";
import { syncAccountThreshold } from "./save-auto-top-up";
import { outcomeOf, PROVIDER_UNAVAILABLE, settleAttempt } from "./settle-attempt";

/**
 * How long a worker keeps an attempt it took: beyond the Stripe client's timeout (15 s, one network retry),
 * so a live worker is never overtaken, while one that died gives the attempt up when it ends; the next
 * worker charges it again under the same idempotency key, which answers the same PaymentIntent.
 */
export const AUTO_TOP_UP_LEASE_SECONDS = 60;

/**
 * Charges sent for one attempt without an answer before the worker stops sending them and asks the provider
 * what came of it instead (resolveUnknownCharge): about 1.6 hours with the backoff below.
 */
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
  created_at: string | Date;
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
      RETURNING a.id, a.user_id, a.package_id, a.amount, a.currency, a.tries, a.created_at, a.purchase_id, a.detail`),
  );
}

type Prepared =
  | {
      kind: "charge";
      purchaseId: string;
      amount: number;
      currency: string;
      paymentMethodId: string;
      customerId: string;
      description: string;
    }
  | { kind: "canceled"; reason: string };

/**
 * Makes the attempt's purchase once, before any charge: the purchase row (recordPendingPurchase, as the
 * browser's purchases make it: a snapshot of the package from the server's catalog) and, on the attempt, its id with the card and customer to charge. A retry of the
 * attempt finds them and sends the provider the very same request, so the idempotency key answers the same
 * PaymentIntent (a changed request under one key would be refused by Stripe as an idempotency_error).
 * Before the first charge the setting is checked again: turned off or card removed → the attempt is
 * canceled, nothing charged; the package left the catalog → auto top-up turns off (`disabledReason:
 * package_unavailable`); the package's price changed → its current price is charged if it fits this
 * month's limit, else the attempt is canceled as `cap_reached` (the page says the limit is reached), and
 * a price above the limit itself turns auto top-up off (`price_above_limit`).
 * Locks the account row first, as settleAttempt and every ledger change do.
 */
async function prepare(db: Database, provider: PaymentProvider, attempt: ClaimedAttempt): Promise<Prepared> {
  const ready = ({
    purchase_id: purchaseId,
    detail,
    amount,
    currency,
  }: ClaimedAttempt): Prepared | undefined =>
    purchaseId && detail?.paymentMethodId && detail.customerId && detail.description
      ? {
          kind: "charge",
          purchaseId,
          amount,
          currency,
          paymentMethodId: detail.paymentMethodId,
          customerId: detail.customerId,
          description: detail.description,
        }
      : undefined;
  const known = ready(attempt);
  if (known) return known;
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT 1 FROM credit_account WHERE user_id = ${attempt.user_id} FOR UPDATE`);
    const [row] = sqlRows<ClaimedAttempt & { status: string }>(
      await tx.execute(sql`
        SELECT id, user_id, package_id, amount, currency, tries, created_at, purchase_id, detail, status
        FROM auto_top_up_attempt WHERE id = ${attempt.id} FOR UPDATE`),
    );
    if (row?.status !== "processing") return { kind: "canceled", reason: "settled_meanwhile" };
    const known = ready(row);
    if (known) return known;
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
    if (!pkg || pkg.price.currency !== row.currency) {
      // The package left the catalog (or is now sold in another currency than the limit's): the top-up the
      // user chose no longer exists, so auto top-up turns off with a reason the page's banner states,
      // rather than canceling silently at every crossing.
      await tx.execute(sql`
        UPDATE auto_top_up SET enabled = false, disabled_reason = 'package_unavailable', updated_at = now()
        WHERE user_id = ${row.user_id} AND enabled`);
      await syncAccountThreshold(tx, row.user_id);
      return { kind: "canceled", reason: "package_unavailable" };
    }
    if (pkg.price.amount !== row.amount) {
      // The package's price changed since the setting was saved. The user chose the package, and the
      // monthly limit is what protects them: the current price is charged if it fits this month's limit
      // (the trigger's sum, without this attempt); otherwise the limit is reached, and the page says so.
      // The setting takes the new price, so the next decision counts it. A price above the limit itself
      // can never fit (the setting's CHECK refuses it): auto top-up turns off, `price_above_limit`, for
      // the user to raise the limit or choose another package.
      const [month] = sqlRows<{ spent: string | number; cap: number }>(
        await tx.execute(sql`
          SELECT s.monthly_cap_amount AS cap,
                 (SELECT coalesce(sum(a.amount), 0) FROM auto_top_up_attempt a
                  WHERE a.user_id = s.user_id AND a.id <> ${row.id} AND a.currency = s.currency
                    AND a.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                    AND a.status IN ('pending', 'processing', 'requires_action', 'succeeded')) AS spent
          FROM auto_top_up s WHERE s.user_id = ${row.user_id}`),
      );
      if (!month || pkg.price.amount > month.cap) {
        await tx.execute(sql`
          UPDATE auto_top_up SET enabled = false, disabled_reason = 'price_above_limit', updated_at = now()
          WHERE user_id = ${row.user_id} AND enabled`);
        await syncAccountThreshold(tx, row.user_id);
        return { kind: "canceled", reason: "price_above_limit" };
      }
      await tx.execute(sql`
        UPDATE auto_top_up SET package_amount = ${pkg.price.amount}, updated_at = now()
        WHERE user_id = ${row.user_id} AND package_id = ${pkg.id}`);
      if (Number(month.spent) + pkg.price.amount > month.cap) {
        await tx.execute(sql`UPDATE auto_top_up SET cap_reached_at = now() WHERE user_id = ${row.user_id}`);
        return { kind: "canceled", reason: "cap_reached" };
      }
      await tx.execute(sql`
        UPDATE auto_top_up_attempt SET amount = ${pkg.price.amount}, updated_at = now() WHERE id = ${row.id}`);
      row.amount = pkg.price.amount;
    }
    const purchaseId = await recordPendingPurchase(tx, { userId: row.user_id, pkg, provider: provider.name });
    const detail = {
      paymentMethodId: setting.payment_method_id,
      customerId: setting.customer_id,
      description: purchaseDescription(pkg, "auto top-up"),
    };
    await tx.execute(sql`
      UPDATE auto_top_up_attempt SET purchase_id = ${purchaseId}, detail = ${JSON.stringify(detail)}::jsonb,
        updated_at = now()
      WHERE id = ${row.id}`);
    return { kind: "charge", purchaseId, amount: row.amount, currency: row.currency, ...detail };
  });
}

/**
 * Charges one claimed attempt off-session and settles it with the provider's answer (settleAttempt).
 * Credits are not granted here: the purchase is granted by its `payment_intent.succeeded`, exactly once,
 * like every purchase (the sandbox delivers that event before it answers).
 * - The card or customer gone at the provider → `failed` (`card_missing`): a definite answer, nothing charged.
 * - Any other error (the provider unreachable, an answer lost): the charge may have been made, so the attempt
 *   stays in flight (`processing`: counted against the monthly cap, no second top-up) and is tried again
 *   with backoff under the same idempotency key, which answers the same PaymentIntent.
 * - From the AUTO_TOP_UP_MAX_TRIES-th try on, no new charge is sent (Stripe keeps an idempotency key for
 *   24 hours only, https://docs.stripe.com/api/idempotent_requests; the tries end well within that): the
 *   provider is asked instead whether a PaymentIntent of this attempt succeeded (resolveUnknownCharge).
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
  if (attempt.tries > AUTO_TOP_UP_MAX_TRIES)
    return resolveUnknownCharge(db, provider, attempt, prepared.purchaseId);
  let charge: Awaited<ReturnType<PaymentProvider["chargeOffSession"]>>;
  try {
    charge = await provider.chargeOffSession({
      amount: prepared.amount,
      currency: prepared.currency,
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
    if (error instanceof PaymentCustomerMissingError || error instanceof PaymentMethodMissingError)
      return db.transaction((tx) =>
        settleAttempt(tx, attempt.id, {
          status: "failed",
          error: {
            code: "card_missing",
            declineCode: null,
            message: "The saved card is no longer available.",
          },
        }),
      );
    // Unknown outcome: the request may have reached the provider and made the charge.
    if (attempt.tries >= AUTO_TOP_UP_MAX_TRIES)
      return resolveUnknownCharge(db, provider, attempt, prepared.purchaseId);
    log.warn(
      { err: error, tries: attempt.tries, unavailable: error instanceof PaymentProviderUnavailableError },
      "auto top-up: no answer from the payment provider; will retry",
    );
    return retryLater(db, attempt);
  }
  // The PaymentIntent's id on the purchase (the webhook also adopts it by metadata if this never runs).
  await recordPaymentIntent(db, prepared.purchaseId, charge.paymentIntentId);
  return db.transaction((tx) => settleAttempt(tx, attempt.id, outcomeOf(charge)));
}

async function recordPaymentIntent(db: Database, purchaseId: string, paymentIntentId: string) {
  await db.execute(sql`
    UPDATE credit_purchase SET payment_intent_id = ${paymentIntentId}, updated_at = now()
    WHERE id = ${purchaseId} AND payment_intent_id IS NULL`);
}

/** Leaves the attempt in flight (`processing`) for another try after the backoff. */
async function retryLater(db: Database, attempt: ClaimedAttempt): Promise<string> {
  await db.execute(sql`
    UPDATE auto_top_up_attempt SET leased_until = NULL, updated_at = now(),
      next_try_at = now() + make_interval(secs => ${autoTopUpRetryDelaySeconds(attempt.tries)})
    WHERE id = ${attempt.id} AND status = 'processing'`);
  return "processing";
}

/**
 * Asks the provider what came of an attempt whose charge had no answer: its succeeded PaymentIntents
 * made since the attempt was created, for one carrying `metadata.autoTopUpAttemptId`. Found → the attempt
 * settles `succeeded` (the credits come from its `payment_intent.succeeded`, or the reconciliation in
 * maintenance); none → nothing was charged (an off-session card charge is decided at once), so it ends
 * `failed` with `provider_unavailable`, which is not a decline (settleAttempt counts and emails nothing).
 * The provider unreachable for this too → still unknown: it stays in flight and is asked again later.
 */
async function resolveUnknownCharge(
  db: Database,
  provider: PaymentProvider,
  attempt: ClaimedAttempt,
  purchaseId: string,
): Promise<string | undefined> {
  const log = logger.child({ userId: attempt.user_id, attemptId: attempt.id });
  let found: Stripe.PaymentIntent | undefined;
  try {
    const since = new Date(new Date(attempt.created_at).getTime() - 5 * 60_000);
    for await (const intent of provider.listSucceededPaymentIntents(since)) {
      if (intent.metadata?.autoTopUpAttemptId === attempt.id) {
        found = intent;
        break;
      }
    }
  } catch (error) {
    log.warn({ err: error, tries: attempt.tries }, "auto top-up: waiting for the payment provider");
    return retryLater(db, attempt);
  }
  if (found) {
    await recordPaymentIntent(db, purchaseId, found.id);
    return db.transaction((tx) =>
      settleAttempt(tx, attempt.id, { status: "succeeded", paymentIntentId: found.id }),
    );
  }
  log.error("auto top-up: the payment provider stayed unreachable and made no charge; given up");
  return db.transaction((tx) =>
    settleAttempt(tx, attempt.id, {
      status: "failed",
      error: {
        code: PROVIDER_UNAVAILABLE,
        declineCode: null,
        message: "The payment service could not be reached; nothing was charged.",
      },
    }),
  );
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

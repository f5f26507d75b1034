import { sql } from "drizzle-orm";
import { type CreditPackage, findPackageOnSale } from "@/catalog/packages";
import { InvalidInputError, PackageUnavailableError } from "@/credits/errors";
import { lockAccount } from "@/credits/lock-account";
import { sqlRows } from "@/credits/sql-rows";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { CardRequiredError } from "./errors";
import { getAutoTopUp } from "./get-auto-top-up";
import type { AutoTopUpBody, AutoTopUpView } from "./schemas";

/**
 * Keeps `credit_account.auto_top_up_threshold` equal to the setting's threshold while it is enabled and
 * null otherwise: the trigger's WHEN clause reads that column (src/auto-top-up/sql/auto-top-up.sql), so an
 * account without auto top-up never calls the decision. Call it under the account's row lock.
 */
export async function syncAccountThreshold(tx: DatabaseOrTransaction, userId: string): Promise<void> {
  await tx.execute(sql`
    UPDATE credit_account SET auto_top_up_threshold = (
      SELECT CASE WHEN s.enabled THEN s.threshold_credits END FROM auto_top_up s WHERE s.user_id = ${userId})
    WHERE user_id = ${userId}`);
}

/**
 * Cancels the user's attempt that was decided but not charged yet (`pending`, no purchase made): turning
 * auto top-up off or removing the card means the user no longer wants it. An attempt already charging or
 * waiting for the cardholder is left to finish (its money may be moving; the cardholder may still pay).
 */
export async function cancelUnchargedAttempt(tx: DatabaseOrTransaction, userId: string, reason: string) {
  await tx.execute(sql`
    UPDATE auto_top_up_attempt SET status = 'canceled', failure_code = ${reason}, finished_at = now(),
      updated_at = now()
    WHERE user_id = ${userId} AND status = 'pending' AND purchase_id IS NULL`);
}

/**
 * Saves the user's auto top-up from the credits page (PUT /api/credits/auto-top-up). The package must be
 * on sale (PackageUnavailableError, 400), the cap at least its price, so one top-up fits
 * (InvalidInputError, 400), and turning it on needs a card saved through a SetupIntent
 * (CardRequiredError, 409). Turning it on clears a `disabledReason` and the failure count (the user
 * decided to try again). When the available balance is already below the threshold as it is saved, a
 * top-up starts at once (the same decision the trigger makes on a crossing: one in flight, within the
 * cap), since the user asked not to run dry; only then: re-saving a setting that was already on starts
 * nothing (a raised threshold waits for the next crossing). Turning it off cancels a top-up not charged yet.
 * Answers the view (getAutoTopUp). Runs under the account's row lock, like every ledger change, so it
 * cannot interleave with a spend's decision.
 */
export async function saveAutoTopUp(
  db: Database,
  userId: string,
  body: AutoTopUpBody,
  packages?: readonly CreditPackage[],
): Promise<AutoTopUpView> {
  const pkg = findPackageOnSale(body.packageId, packages);
  if (!pkg) throw new PackageUnavailableError(body.packageId);
  if (body.monthlyCapAmount < pkg.price.amount)
    throw new InvalidInputError(
      `monthlyCapAmount: the monthly cap must be at least the package's price (${pkg.price.amount} minor units of ${pkg.price.currency.toUpperCase()}).`,
    );
  return db.transaction(async (tx) => {
    const account = await lockAccount(tx, userId);
    const [current] = sqlRows<{ payment_method_id: string | null; enabled: boolean }>(
      await tx.execute(
        sql`SELECT payment_method_id, enabled FROM auto_top_up WHERE user_id = ${userId} FOR UPDATE`,
      ),
    );
    if (body.enabled && !current?.payment_method_id) throw new CardRequiredError();
    // An UPDATE when the row exists (it holds the card); an INSERT only for a first, disabled setting. (One
    // INSERT … ON CONFLICT would not do: the CHECK that an enabled setting has a card is tested on the row
    // proposed for insertion, before the conflict turns it into an update.)
    if (current) {
      await tx.execute(sql`
        UPDATE auto_top_up SET enabled = ${body.enabled}, package_id = ${pkg.id}, package_amount = ${pkg.price.amount},
          currency = ${pkg.price.currency}, threshold_credits = ${body.thresholdCredits},
          monthly_cap_amount = ${body.monthlyCapAmount}, locale = coalesce(${body.locale ?? null}::text, locale),
          disabled_reason = CASE WHEN ${body.enabled} THEN NULL ELSE disabled_reason END,
          consecutive_failures = CASE WHEN ${body.enabled} AND NOT enabled THEN 0 ELSE consecutive_failures END,
          updated_at = now()
        WHERE user_id = ${userId}`);
    } else {
      await tx.execute(sql`
        INSERT INTO auto_top_up (user_id, enabled, package_id, package_amount, currency, threshold_credits,
                                 monthly_cap_amount, locale)
        VALUES (${userId}, false, ${pkg.id}, ${pkg.price.amount}, ${pkg.price.currency}, ${body.thresholdCredits},
                ${body.monthlyCapAmount}, ${body.locale ?? "en"})`);
    }
    await syncAccountThreshold(tx, userId);
    const available = account.balance - account.held;
    // Only turning it on (off → on) starts one at once: re-saving a setting that is already on (another
    // language, a new limit) is no crossing, and would otherwise charge a card that was just declined again.
    const turnedOn = body.enabled && !current?.enabled;
    if (turnedOn && available < body.thresholdCredits)
      await tx.execute(sql`SELECT creditkit_auto_top_up_request(${userId}, ${available}::bigint)`);
    if (!body.enabled) await cancelUnchargedAttempt(tx, userId, "turned_off");
    return getAutoTopUp(tx, userId);
  });
}

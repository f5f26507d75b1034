-- Low-balance alerts, decided by the database in the transaction of the change that crosses the threshold
-- (never by polling, so never stale and never missed, whatever the entry point: spend, capture, hold,
-- expiry, clawback, the service API, a job). The crossing marks the account (low_balance_alerted_at) and
-- queues one email in the email outbox (email_outbox); src/email/deliver-email-outbox.ts sends it after
-- the commit. The same decision gives the `balance.low` outbound event (src/outbound/sql/outbound-events.sql).
--
-- Once per crossing: every ledger change updates the account row under its row lock, so concurrent spends
-- are applied one after another and each sees the result of the one before; only the change that takes the
-- available balance from at-or-above the threshold to below it, while the alert is armed, fires it. An
-- idempotency-key replay answers from the stored entry and updates nothing, so it fires nothing.
--
-- Installed on every migrate with the other SQL functions (src/db/sql-functions.ts), before the outbound
-- events that read its decision.

-- The account's threshold in credits: the absolute one, or the percentage of the monthly credits of the
-- plan in force now, rounded up (so 1% of any plan is at least 1 credit). The plan in force is the one
-- getCurrentPlan (src/payment/subscriptions/get-current-plan.ts) shows: the newest live subscription's,
-- unless it is still `incomplete`; otherwise (none, canceled, never paid, or an account made for another
-- backend's customer) the Free plan's. NULL when no threshold is set, or when no such plan is known.
CREATE OR REPLACE FUNCTION creditkit_low_balance_threshold(p_user text, p_credits bigint, p_percent integer)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_plan record;
  v_allocation integer;
BEGIN
  IF p_credits IS NOT NULL OR p_percent IS NULL THEN
    RETURN p_credits;
  END IF;
  SELECT s.plan_id, s.status INTO v_plan
  FROM subscription s
  WHERE s.user_id = p_user
    AND s.status IN ('incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused')
  ORDER BY s.created_at DESC
  LIMIT 1;
  IF FOUND AND v_plan.status <> 'incomplete' THEN
    SELECT a.credits_per_month INTO v_allocation FROM plan_allocation a WHERE a.plan_id = v_plan.plan_id;
  END IF;
  IF v_allocation IS NULL THEN
    SELECT a.credits_per_month INTO v_allocation FROM plan_allocation a WHERE a.is_free LIMIT 1;
  END IF;
  IF v_allocation IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN (v_allocation::bigint * p_percent + 99) / 100;
END $$;

-- Decides the crossing on the row being written (a BEFORE trigger, so the mark is part of the same update):
-- down across the threshold → mark it and queue the email; back at or above it (or no threshold any more)
-- while marked → re-arm. A change that stays on one side does nothing.
-- A crossing fires even on a marked account: a mark with the balance at or above the threshold before the
-- change is stale, left by a plan change (or a catalog change) that lowered a percentage threshold without
-- any balance change to re-arm it. Otherwise every change keeps a marked balance below the threshold, so a
-- marked account never sees v_before >= v_threshold and "once per crossing" holds.
CREATE OR REPLACE FUNCTION creditkit_low_balance_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_before bigint := OLD.balance - OLD.held;
  v_after bigint := NEW.balance - NEW.held;
  v_threshold bigint := creditkit_low_balance_threshold(NEW.user_id, NEW.low_balance_threshold,
                                                        NEW.low_balance_threshold_percent);
BEGIN
  IF v_threshold IS NOT NULL AND v_before >= v_threshold AND v_after < v_threshold THEN
    -- clock_timestamp(), not now(): a new mark always differs from a stale one, which is how the
    -- balance.low event (src/outbound/sql/outbound-events.sql) tells a crossing from a kept mark.
    NEW.low_balance_alerted_at := clock_timestamp();
    INSERT INTO email_outbox (user_id, kind, locale, payload)
    VALUES (NEW.user_id, 'low_balance', coalesce(NEW.alert_locale, 'en'),
            jsonb_build_object('available', v_after, 'availableBefore', v_before, 'threshold', v_threshold,
                               'percent', NEW.low_balance_threshold_percent));
  ELSIF NEW.low_balance_alerted_at IS NOT NULL AND (v_threshold IS NULL OR v_after >= v_threshold) THEN
    NEW.low_balance_alerted_at := NULL;
  END IF;
  RETURN NEW;
END $$;

-- Only changes of the available balance of accounts with an alert pay for it: every other spend skips the
-- function call altogether. With a threshold in credits, the crossing itself is tested here (the function's
-- own test while armed), so the spends of an armed account that stay above it skip the call too; a
-- percentage needs the plan in force (the function), and a marked account may re-arm (the function).
CREATE OR REPLACE TRIGGER credit_account_low_balance_alert BEFORE UPDATE ON credit_account
FOR EACH ROW WHEN ((OLD.balance - OLD.held) IS DISTINCT FROM (NEW.balance - NEW.held)
                   AND (NEW.low_balance_threshold_percent IS NOT NULL OR OLD.low_balance_alerted_at IS NOT NULL
                        OR (NEW.low_balance_threshold IS NOT NULL
                            AND (OLD.balance - OLD.held) >= NEW.low_balance_threshold
                            AND (NEW.balance - NEW.held) < NEW.low_balance_threshold)))
EXECUTE FUNCTION creditkit_low_balance_alert();

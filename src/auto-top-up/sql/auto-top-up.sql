-- Auto top-up, decided by the database in the transaction of the change that takes the available balance
-- (balance − held) below the user's threshold, exactly like the low-balance alert
-- (src/alerts/sql/low-balance-alerts.sql): never by polling, whatever the entry point (spend, hold,
-- capture, expiry, the service API, a job; never a clawback, see creditkit_auto_top_up). The decision is
-- a row in auto_top_up_attempt; a worker charges it after the commit (src/auto-top-up/run-auto-top-ups.ts).
-- A change that rolls back takes its attempt with it; an idempotency-key replay changes no balance, so it
-- decides nothing.
--
-- Once per crossing, one in flight: every ledger change updates the account row under its row lock, so
-- concurrent spends are applied one after another and only the one that crosses calls the function; and the
-- partial unique index auto_top_up_attempt_one_in_flight refuses a second attempt while one is pending,
-- processing or waiting for the cardholder (ON CONFLICT DO NOTHING), so not even two crossings in quick
-- succession (a grant in between) can start two charges.
--
-- Installed on every migrate with the other SQL functions (src/db/sql-functions.ts).

-- Starts a top-up for the user if the setting allows it now: enabled, no attempt in flight, and this
-- calendar month's (UTC) top-ups (succeeded or still under way, in the setting's currency) plus this
-- package's price within the monthly cap. Over the cap it records `cap_reached_at` for the page instead
-- (the cap is the user's promise to themselves: it is never exceeded, not even by one package). Returns the
-- new attempt's id, or NULL when none was started. The caller holds the account's row lock.
CREATE OR REPLACE FUNCTION creditkit_auto_top_up_request(p_user text, p_available bigint)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
  v_setting auto_top_up%ROWTYPE;
  v_month_start timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_spent bigint;
  v_id uuid;
BEGIN
  SELECT * INTO v_setting FROM auto_top_up WHERE user_id = p_user;
  IF NOT FOUND OR NOT v_setting.enabled OR v_setting.payment_method_id IS NULL THEN
    RETURN NULL;
  END IF;
  -- One in flight: an attempt under way already answers this crossing.
  IF EXISTS (SELECT 1 FROM auto_top_up_attempt a
             WHERE a.user_id = p_user AND a.status IN ('pending', 'processing', 'requires_action')) THEN
    RETURN NULL;
  END IF;
  SELECT coalesce(sum(a.amount), 0) INTO v_spent FROM auto_top_up_attempt a
  WHERE a.user_id = p_user AND a.created_at >= v_month_start AND a.currency = v_setting.currency
    AND a.status IN ('pending', 'processing', 'requires_action', 'succeeded');
  IF v_spent + v_setting.package_amount > v_setting.monthly_cap_amount THEN
    UPDATE auto_top_up SET cap_reached_at = now() WHERE user_id = p_user;
    RETURN NULL;
  END IF;
  INSERT INTO auto_top_up_attempt (user_id, package_id, amount, currency, available_at_start)
  VALUES (p_user, v_setting.package_id, v_setting.package_amount, v_setting.currency,
          least(greatest(p_available, -2147483648), 2147483647)::integer)
  ON CONFLICT (user_id) WHERE status IN ('pending', 'processing', 'requires_action') DO NOTHING
  RETURNING id INTO v_id;
  RETURN v_id;
END $$;

-- A clawback (refund or dispute taking credits back; src/credits/claw-back-credits.ts) never starts a top-up:
-- the customer asked for their money back, so charging the card again for it would be wrong. It marks its
-- balance change with the transaction-local setting creditkit.no_auto_top_up.
CREATE OR REPLACE FUNCTION creditkit_auto_top_up() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('creditkit.no_auto_top_up', true), '') = 'on' THEN
    RETURN NEW;
  END IF;
  PERFORM creditkit_auto_top_up_request(NEW.user_id, NEW.balance - NEW.held);
  RETURN NEW;
END $$;

-- The crossing is decided in the WHEN clause: from at or above the threshold to below it. Every other
-- change, and every change of an account without auto top-up (auto_top_up_threshold NULL), skips the
-- function call altogether, so spends pay nothing for auto top-up until one crosses.
CREATE OR REPLACE TRIGGER credit_account_auto_top_up BEFORE UPDATE ON credit_account
FOR EACH ROW WHEN (NEW.auto_top_up_threshold IS NOT NULL
                   AND (OLD.balance - OLD.held) >= NEW.auto_top_up_threshold
                   AND (NEW.balance - NEW.held) < NEW.auto_top_up_threshold)
EXECUTE FUNCTION creditkit_auto_top_up();

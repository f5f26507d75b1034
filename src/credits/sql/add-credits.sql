-- This function used to raise SQLSTATE CK409 and CK400 for a refused grant and to say a replay in
-- o_replayed; it now answers every outcome in o_status. CREATE OR REPLACE cannot change a function's
-- results, so the old version (the same parameters, no o_status) is dropped first. Only that one: dropping
-- the current version on every install would make a new function each time and lose its grants.
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proname = 'creditkit_add_credits' AND n.nspname = current_schema()
      AND NOT ('o_status' = ANY (p.proargnames))
  ) THEN
    EXECUTE format('DROP FUNCTION %I.creditkit_add_credits(text, bigint, text, text, text, text, timestamptz, '
                   'text, text, uuid, jsonb, timestamptz, bigint)', current_schema());
  END IF;
END $$;

-- A grant in one statement (purchases, gifts, admin grants, dispute reversals): the user's row lock, the
-- idempotency check, expiry of due lots, the new lot, its ledger entry, and the repayment of any debt
-- (creditkit_repay_debt), in one round trip instead of about ten. It returns data; the caller
-- (src/credits/add-credits.ts) decides what a refusal means.
--
-- o_status:
--   'ok'          granted: o_entry_id, o_lot_id, and o_balance the balance after (after any debt repayment)
--   'replayed'    this idempotency key already made this grant: the first answer, nothing written
--   'conflict'    this idempotency key was already used for a different grant
--   'past_expiry' p_expires_at is not in the future by the database's clock (such a grant would only write
--                 itself and its expiry; judged here, not by the app server's clock, like every expiry)
-- A refusal writes no lot and no entry (the account row may have been created by the lock, as for a
-- refused spend).
--
-- p_expired_repay_limit bounds what a grant already past its expiry may repay (null: nothing); a grant that
-- has not expired repays any debt first, like every grant.
CREATE OR REPLACE FUNCTION creditkit_add_credits(p_user text, p_amount bigint, p_type text, p_description text,
  p_key text, p_hash text, p_expires_at timestamptz, p_category text, p_reference text, p_purchase_id uuid,
  p_metadata jsonb, p_now timestamptz, p_expired_repay_limit bigint,
  OUT o_status text, OUT o_entry_id bigint, OUT o_lot_id uuid, OUT o_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_account record;
  v_balance bigint;
  v_debt bigint;
  v_existing record;
  v_repaid bigint;
  v_repayment bigint;
BEGIN
  v_account := creditkit_lock_account(p_user);
  v_balance := v_account.o_balance;
  v_debt := v_account.o_debt;

  SELECT e.id, e.request_hash, e.balance_after, e.metadata INTO v_existing
  FROM credit_entry e WHERE e.user_id = p_user AND e.idempotency_key = p_key;
  IF FOUND THEN
    IF v_existing.request_hash <> p_hash THEN
      o_status := 'conflict';
      RETURN;
    END IF;
    o_entry_id := v_existing.id;
    o_lot_id := (v_existing.metadata ->> 'lotId')::uuid;
    -- The first answer was the balance after the debt repayment, when there was one.
    SELECT e.balance_after INTO o_balance FROM credit_entry e
    WHERE e.user_id = p_user AND e.idempotency_key = p_key || ':debt-repayment';
    o_balance := coalesce(o_balance, v_existing.balance_after);
    o_status := 'replayed';
    RETURN;
  END IF;
  -- Credits given back after a won dispute keep the expiry of the purchase's own credits (they are the same
  -- credits coming back): when that time has passed, the lot is written and expires at once, below.
  IF p_expires_at <= v_now AND p_type <> 'dispute_reversal' THEN
    o_status := 'past_expiry';
    RETURN;
  END IF;

  SELECT x.o_balance INTO v_balance FROM creditkit_expire_due_lots(p_user, v_balance, v_now) x;

  INSERT INTO credit_lot (user_id, credits, remaining, expires_at, source, category, purchase_id, created_at)
  VALUES (p_user, p_amount, p_amount, p_expires_at, p_type, p_category, p_purchase_id, v_now)
  RETURNING id INTO o_lot_id;
  v_balance := v_balance + p_amount;
  INSERT INTO credit_entry (user_id, type, amount, balance_after, description, reference, idempotency_key,
                            request_hash, metadata, created_at)
  VALUES (p_user, p_type, p_amount, v_balance, p_description, p_reference, p_key, p_hash,
          coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('lotId', o_lot_id), v_now)
  RETURNING id INTO o_entry_id;
  UPDATE credit_lot SET grant_entry_id = o_entry_id WHERE id = o_lot_id;
  UPDATE credit_account SET balance = v_balance, updated_at = now() WHERE user_id = p_user;
  IF p_expires_at <= v_now THEN
    -- Already past its expiry (a dispute reversal only). The reversal undoes a clawback, so it first repays
    -- the debt that clawback may have left (the credits had been spent, which the merchant now keeps paid
    -- for), and no more: at most p_expired_repay_limit, the debt the purchase's own clawbacks left and
    -- nothing has cancelled yet. Other debt stays (expired credits cannot pay for another purchase's
    -- refund). What is left expires at once, in an `expire` entry right after, so no later entry counts it.
    v_repaid := least(v_debt, p_amount, greatest(coalesce(p_expired_repay_limit, 0), 0));
    IF v_repaid > 0 THEN
      v_balance := v_balance - v_repaid;
      INSERT INTO credit_entry (user_id, type, amount, debt_change, balance_after, description, idempotency_key,
                                request_hash, metadata, created_at)
      VALUES (p_user, 'debt_repayment', -v_repaid, -v_repaid, v_balance, 'Outstanding debt repaid',
              p_key || ':debt-repayment', p_hash || ':debt-repayment',
              jsonb_build_object('debtBefore', v_debt, 'cause', p_key), v_now)
      RETURNING id INTO v_repayment;
      INSERT INTO credit_allocation (entry_id, lot_id, amount) VALUES (v_repayment, o_lot_id, v_repaid);
      UPDATE credit_lot SET remaining = remaining - v_repaid WHERE id = o_lot_id;
      v_debt := v_debt - v_repaid;
      UPDATE credit_account SET balance = v_balance, debt = v_debt, updated_at = now() WHERE user_id = p_user;
    END IF;
    SELECT x.o_balance INTO v_balance FROM creditkit_expire_due_lots(p_user, v_balance, v_now) x;
  END IF;
  o_balance := v_balance;
  o_status := 'ok';

  IF v_debt > 0 THEN
    SELECT r.o_balance INTO o_balance FROM creditkit_repay_debt(p_user, p_key, p_hash, v_now) r;
  END IF;
END $$;

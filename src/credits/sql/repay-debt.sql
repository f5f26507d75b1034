-- The one home of the rule "credits that come back to a user repay their debt first". A refund or a lost
-- dispute that finds the credits already spent (or reserved by a hold) leaves a debt; if credits that come
-- back later were spendable while the debt stayed, the refunded customer could spend what they were paid
-- back for. Every path that gives credits back calls this after its own change, in its own transaction:
-- creditkit_add_credits (purchases, gifts, grants, dispute reversals) and creditkit_settle_hold (release,
-- the rest of a capture, a hold past its time-to-live).
--
-- Repays min(debt, credits spendable now) from the user's lots in spending order, as one `debt_repayment`
-- entry with its allocations. Its idempotency key is the cause's key plus ':debt-repayment' (one per step
-- of the history: a grant's key, or 'creditkit/hold-release:<hold id>'), so it happens at most once per
-- cause and a replayed cause finds its first answer. The caller holds the account's row lock; taking it
-- again here (creditkit_lock_account) costs nothing and keeps the function safe on its own.
CREATE OR REPLACE FUNCTION creditkit_repay_debt(p_user text, p_cause_key text, p_cause_hash text,
  p_now timestamptz, OUT o_repaid bigint, OUT o_balance bigint, OUT o_debt bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_key text := p_cause_key || ':debt-repayment';
  v_account record;
  v_spendable bigint;
  v_entry bigint;
BEGIN
  o_repaid := 0;
  v_account := creditkit_lock_account(p_user);
  o_balance := v_account.o_balance;
  o_debt := v_account.o_debt;
  IF o_debt = 0 THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM credit_entry e WHERE e.user_id = p_user AND e.idempotency_key = v_key) THEN
    RETURN;
  END IF;
  SELECT coalesce(sum(l.remaining), 0) INTO v_spendable FROM credit_lot l
  WHERE l.user_id = p_user AND l.spendable AND (l.expires_at IS NULL OR l.expires_at > v_now);
  o_repaid := least(o_debt, v_spendable);
  IF o_repaid = 0 THEN
    RETURN;
  END IF;
  o_balance := o_balance - o_repaid;
  INSERT INTO credit_entry (user_id, type, amount, debt_change, balance_after, description, idempotency_key,
                            request_hash, metadata, created_at)
  VALUES (p_user, 'debt_repayment', -o_repaid, -o_repaid, o_balance, 'Outstanding debt repaid', v_key,
          p_cause_hash || ':debt-repayment', jsonb_build_object('debtBefore', o_debt, 'cause', p_cause_key), v_now)
  RETURNING id INTO v_entry;
  o_debt := o_debt - o_repaid;
  INSERT INTO credit_allocation (entry_id, lot_id, amount)
  SELECT v_entry, d.lot_id, d.amount FROM creditkit_draw_from_lots(p_user, o_repaid, v_now) d;
  UPDATE credit_account SET balance = o_balance, debt = o_debt, updated_at = now() WHERE user_id = p_user;
END $$;

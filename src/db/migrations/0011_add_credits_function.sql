-- A grant in one statement (purchases, gifts, admin grants, dispute reversals): the user's row lock, the
-- idempotency check, expiry of due lots, the new lot, its ledger entry, and the repayment of any debt,
-- in one round trip instead of about ten. Raises SQLSTATE CK409 when the idempotency key was already used
-- for a different grant.
CREATE OR REPLACE FUNCTION creditkit_add_credits(p_user text, p_amount bigint, p_type text, p_description text,
  p_key text, p_hash text, p_expires_at timestamptz, p_category text, p_reference text, p_purchase_id uuid,
  p_metadata jsonb, p_now timestamptz,
  OUT o_entry_id bigint, OUT o_lot_id uuid, OUT o_balance bigint, OUT o_replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_balance bigint;
  v_debt bigint;
  v_existing record;
  v_repay bigint;
  v_repayment_entry bigint;
BEGIN
  SELECT a.balance, a.debt INTO v_balance, v_debt FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO credit_account (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
    SELECT a.balance, a.debt INTO v_balance, v_debt FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  END IF;

  SELECT e.id, e.request_hash, e.balance_after, e.metadata INTO v_existing
  FROM credit_entry e WHERE e.user_id = p_user AND e.idempotency_key = p_key;
  IF FOUND THEN
    IF v_existing.request_hash <> p_hash THEN
      RAISE EXCEPTION 'idempotency key reused with a different grant' USING ERRCODE = 'CK409';
    END IF;
    o_entry_id := v_existing.id;
    o_lot_id := (v_existing.metadata ->> 'lotId')::uuid;
    -- The first answer was the balance after the debt repayment, when there was one.
    SELECT e.balance_after INTO o_balance FROM credit_entry e
    WHERE e.user_id = p_user AND e.idempotency_key = p_key || ':debt-repayment';
    o_balance := coalesce(o_balance, v_existing.balance_after);
    o_replayed := true;
    RETURN;
  END IF;

  SELECT x.o_balance INTO v_balance FROM creditkit_expire_due_lots(p_user, v_balance, p_now) x;

  INSERT INTO credit_lot (user_id, credits, remaining, expires_at, source, category, purchase_id, created_at)
  VALUES (p_user, p_amount, p_amount, p_expires_at, p_type, p_category, p_purchase_id, p_now)
  RETURNING id INTO o_lot_id;
  v_balance := v_balance + p_amount;
  INSERT INTO credit_entry (user_id, type, amount, balance_after, description, reference, idempotency_key,
                            request_hash, metadata, created_at)
  VALUES (p_user, p_type, p_amount, v_balance, p_description, p_reference, p_key, p_hash,
          coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('lotId', o_lot_id), p_now)
  RETURNING id INTO o_entry_id;
  UPDATE credit_lot SET grant_entry_id = o_entry_id WHERE id = o_lot_id;

  -- Debt left by a refund of credits already spent is repaid first from the next grant, so a refunded
  -- customer cannot keep spending what they were paid back for.
  IF v_debt > 0 THEN
    v_repay := least(v_debt, p_amount);
    UPDATE credit_lot SET remaining = remaining - v_repay WHERE id = o_lot_id;
    v_balance := v_balance - v_repay;
    v_debt := v_debt - v_repay;
    INSERT INTO credit_entry (user_id, type, amount, debt_change, balance_after, description, idempotency_key,
                              request_hash, metadata, created_at)
    VALUES (p_user, 'debt_repayment', -v_repay, -v_repay, v_balance, 'Outstanding debt repaid from new credits',
            p_key || ':debt-repayment', p_hash || ':debt-repayment',
            jsonb_build_object('lotId', o_lot_id, 'debtBefore', v_debt + v_repay), p_now)
    RETURNING id INTO v_repayment_entry;
    INSERT INTO credit_allocation (entry_id, lot_id, amount) VALUES (v_repayment_entry, o_lot_id, v_repay);
  END IF;

  UPDATE credit_account SET balance = v_balance, debt = v_debt, updated_at = now() WHERE user_id = p_user;
  o_balance := v_balance;
  o_replayed := false;
END $$;

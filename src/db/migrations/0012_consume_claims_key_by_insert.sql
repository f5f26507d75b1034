-- creditkit_consume, revised for hot users: the idempotency key is claimed by the entry's own INSERT
-- (ON CONFLICT on the unique (user_id, idempotency_key) index) instead of a lookup before it. The lookup
-- could be planned on the user's history index and filter the whole history (a hot user's statistics go
-- stale fast); the insert always uses the unique index. The key is looked up only when it conflicts, or
-- when the spend cannot be paid (a replay of an earlier successful spend must still answer its first result).
CREATE OR REPLACE FUNCTION creditkit_consume(p_user text, p_amount bigint, p_type text, p_description text,
  p_key text, p_hash text, p_metadata jsonb, p_now timestamptz,
  OUT o_status text, OUT o_entry_id bigint, OUT o_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_balance bigint;
  v_held bigint;
  v_existing record;
BEGIN
  -- The account row lock serializes every mutation of this user (see src/credits/lock-account.ts).
  SELECT a.balance, a.held INTO v_balance, v_held FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO credit_account (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
    SELECT a.balance, a.held INTO v_balance, v_held FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  END IF;

  SELECT x.o_balance INTO v_balance FROM creditkit_expire_due_lots(p_user, v_balance, p_now) x;

  IF v_balance - v_held >= p_amount THEN
    INSERT INTO credit_entry (user_id, type, amount, balance_after, description, idempotency_key, request_hash,
                              metadata, created_at)
    VALUES (p_user, p_type, -p_amount, v_balance - p_amount, p_description, p_key, p_hash, p_metadata, p_now)
    ON CONFLICT (user_id, idempotency_key) DO NOTHING
    RETURNING id INTO o_entry_id;
    IF o_entry_id IS NOT NULL THEN
      INSERT INTO credit_allocation (entry_id, lot_id, amount)
      SELECT o_entry_id, d.lot_id, d.amount FROM creditkit_draw_from_lots(p_user, p_amount, p_now) d;
      UPDATE credit_account SET balance = v_balance - p_amount, updated_at = now() WHERE user_id = p_user;
      o_status := 'ok';
      o_balance := v_balance - p_amount;
      RETURN;
    END IF;
  END IF;

  -- The key was used before (or the spend cannot be paid): answer as the first request was answered.
  SELECT e.id, e.request_hash, e.balance_after INTO v_existing
  FROM credit_entry e WHERE e.user_id = p_user AND e.idempotency_key = p_key;
  IF FOUND THEN
    IF v_existing.request_hash <> p_hash THEN
      o_status := 'conflict';
    ELSE
      o_status := 'replayed';
      o_entry_id := v_existing.id;
      o_balance := v_existing.balance_after;
    END IF;
    RETURN;
  END IF;
  o_status := 'insufficient';
  o_balance := v_balance - v_held;
END $$;

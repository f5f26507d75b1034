-- The ledger's hot path as server-side functions. A spend is the most frequent money mutation; done from
-- the application it costs about ten round trips (begin, lock, idempotency check, expiry, lots, updates,
-- inserts, commit), each one holding the user's row lock a little longer. As one function call it is a
-- single statement: one round trip, atomic by itself, and the row lock is held only while the server runs
-- it. The TypeScript in src/credits validates input and maps results; the rules live here once.

-- Expires every lot of the user that is past its date and still has credits: one `expire` entry per lot,
-- the lot zeroed, the account balance lowered. The caller holds the account's row lock.
CREATE OR REPLACE FUNCTION creditkit_expire_due_lots(p_user text, p_balance bigint, p_now timestamptz,
  OUT o_balance bigint, OUT o_expired integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_lot record;
  v_entry bigint;
BEGIN
  o_balance := p_balance;
  o_expired := 0;
  FOR v_lot IN
    SELECT l.id, l.remaining, l.expires_at FROM credit_lot l
    WHERE l.user_id = p_user AND l.remaining > 0 AND l.expires_at <= p_now
    ORDER BY l.expires_at, l.created_at, l.id
  LOOP
    o_balance := o_balance - v_lot.remaining;
    UPDATE credit_lot SET remaining = 0 WHERE id = v_lot.id;
    INSERT INTO credit_entry (user_id, type, amount, balance_after, description, reference, idempotency_key,
                              request_hash, metadata)
    VALUES (p_user, 'expire', -v_lot.remaining, o_balance, 'Credits expired', v_lot.id::text,
            'expire:' || v_lot.id || ':' || gen_random_uuid(), 'expire:' || v_lot.id,
            jsonb_build_object('expiredAt', v_lot.expires_at))
    RETURNING id INTO v_entry;
    INSERT INTO credit_allocation (entry_id, lot_id, amount) VALUES (v_entry, v_lot.id, v_lot.remaining);
    o_expired := o_expired + 1;
  END LOOP;
  IF o_expired > 0 THEN
    UPDATE credit_account SET balance = o_balance, updated_at = now() WHERE user_id = p_user;
  END IF;
END $$;
--> statement-breakpoint

-- Takes p_amount credits out of the user's spendable lots: soonest-expiring first, never-expiring last,
-- oldest first among equals. Returns what it took from each lot. The caller holds the row lock and has
-- checked that enough is available; running short means the ledger disagrees with itself, so it refuses.
CREATE OR REPLACE FUNCTION creditkit_draw_from_lots(p_user text, p_amount bigint, p_now timestamptz)
RETURNS TABLE (lot_id uuid, amount bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_lot record;
  v_left bigint := p_amount;
  v_take bigint;
BEGIN
  FOR v_lot IN
    SELECT l.id, l.remaining FROM credit_lot l
    WHERE l.user_id = p_user AND l.remaining > 0 AND (l.expires_at IS NULL OR l.expires_at > p_now)
    ORDER BY l.expires_at ASC NULLS LAST, l.created_at, l.id
  LOOP
    EXIT WHEN v_left = 0;
    v_take := least(v_lot.remaining, v_left);
    UPDATE credit_lot SET remaining = remaining - v_take WHERE id = v_lot.id;
    v_left := v_left - v_take;
    lot_id := v_lot.id;
    amount := v_take;
    RETURN NEXT;
  END LOOP;
  IF v_left > 0 THEN
    RAISE EXCEPTION 'ledger inconsistency for %: % credits available on the account but not in lots', p_user, p_amount;
  END IF;
END $$;
--> statement-breakpoint

-- Spends credits, all or nothing, at most once per (user, idempotency key). Returns o_status:
--   'ok'           spent; o_entry_id and o_balance (the balance after, held credits included) are set
--   'replayed'     this key was already used with the same request: the first result
--   'conflict'     this key was already used with a different request (p_hash differs)
--   'insufficient' not enough available (balance less held); o_balance is what was available
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

  SELECT x.o_balance INTO v_balance FROM creditkit_expire_due_lots(p_user, v_balance, p_now) x;
  IF v_balance - v_held < p_amount THEN
    o_status := 'insufficient';
    o_balance := v_balance - v_held;
    RETURN;
  END IF;

  v_balance := v_balance - p_amount;
  INSERT INTO credit_entry (user_id, type, amount, balance_after, description, idempotency_key, request_hash,
                            metadata, created_at)
  VALUES (p_user, p_type, -p_amount, v_balance, p_description, p_key, p_hash, p_metadata, p_now)
  RETURNING id INTO o_entry_id;
  INSERT INTO credit_allocation (entry_id, lot_id, amount)
  SELECT o_entry_id, d.lot_id, d.amount FROM creditkit_draw_from_lots(p_user, p_amount, p_now) d;
  UPDATE credit_account SET balance = v_balance, updated_at = now() WHERE user_id = p_user;
  o_status := 'ok';
  o_balance := v_balance;
END $$;

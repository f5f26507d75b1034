-- Closes an open hold in one statement, under the user's row lock:
--   p_outcome 'captured': spends p_amount (default: what was reserved) and returns the rest to the lots it
--     came from; 'released' and 'expired' return everything.
-- Due lots are expired first (held credits included), so the ledger writes the expiry before the capture
-- and a capture never spends an expired credit. When credits of the hold expired and the capture asks for
-- more than the hold still has, the shortfall is taken from the user's available credits like a spend; if
-- they are not enough, nothing is captured, the hold stays open and o_status is 'insufficient'
-- (o_available says what could be spent). A hold past its time-to-live is closed as 'expired' instead of
-- captured. Credits that come back repay debt first. o_status is then the hold's new status, or:
--   'not_found', 'not_open' (settled another way before; o_hold_status says how), 'too_much' (more than
--   the hold reserved), 'insufficient'. Settling again the same way answers the first result (o_replayed).
CREATE OR REPLACE FUNCTION creditkit_settle_hold(p_hold uuid, p_outcome text, p_amount bigint, p_description text,
  p_now timestamptz,
  OUT o_status text, OUT o_hold_status text, OUT o_user text, OUT o_captured bigint, OUT o_returned bigint,
  OUT o_expired bigint, OUT o_entry_id bigint, OUT o_balance bigint, OUT o_available bigint,
  OUT o_replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_hold record;
  v_account record;
  v_balance bigint;
  v_held bigint;
  v_debt bigint;
  v_expired integer;
  v_outcome text := p_outcome;
  v_wanted bigint;
  v_reserved bigint;
  v_keep bigint;
  v_short bigint;
  v_left bigint;
  v_take bigint;
  v_draw record;
  v_lots uuid[] := '{}';
  v_amounts bigint[] := '{}';
BEGIN
  o_replayed := false;
  o_captured := 0;
  o_returned := 0;
  SELECT h.user_id INTO o_user FROM credit_hold h WHERE h.id = p_hold;
  IF NOT FOUND THEN
    o_status := 'not_found';
    RETURN;
  END IF;
  v_account := creditkit_lock_account(o_user);
  v_balance := v_account.o_balance;
  v_held := v_account.o_held;
  v_debt := v_account.o_debt;
  SELECT x.o_balance, x.o_expired INTO v_balance, v_expired FROM creditkit_expire_due_lots(o_user, v_balance, v_now) x;
  IF v_expired > 0 THEN
    SELECT a.held INTO v_held FROM credit_account a WHERE a.user_id = o_user;
  END IF;
  SELECT * INTO v_hold FROM credit_hold h WHERE h.id = p_hold;
  o_hold_status := v_hold.status;
  o_expired := v_hold.expired_amount;
  o_balance := v_balance;
  o_available := v_balance - v_held;
  v_wanted := CASE WHEN p_outcome = 'captured' THEN coalesce(p_amount, v_hold.amount) ELSE 0 END;

  IF v_hold.status <> 'open' THEN
    IF (v_hold.status = 'captured' AND p_outcome = 'captured' AND v_hold.captured_amount = v_wanted)
       OR (v_hold.status = p_outcome AND p_outcome <> 'captured') THEN
      o_status := v_hold.status;
      o_captured := coalesce(v_hold.captured_amount, 0);
      o_returned := greatest(v_hold.amount - v_hold.expired_amount - o_captured, 0);
      o_entry_id := v_hold.capture_entry_id;
      o_replayed := true;
    ELSE
      o_status := 'not_open';
    END IF;
    RETURN;
  END IF;

  -- A hold past its time-to-live has lost its claim, even if the sweep has not run yet: it is closed as
  -- expired (committed), and the caller is told the capture did not happen.
  IF p_outcome = 'captured' AND v_hold.expires_at <= v_now THEN
    v_outcome := 'expired';
    v_wanted := 0;
  ELSIF v_wanted > v_hold.amount THEN
    o_status := 'too_much';
    RETURN;
  END IF;

  v_reserved := v_hold.amount - v_hold.expired_amount;
  v_keep := least(v_wanted, v_reserved);
  v_short := v_wanted - v_keep;
  IF v_short > 0 AND v_balance - v_held < v_short THEN
    o_status := 'insufficient';
    RETURN;
  END IF;

  -- Capture keeps the hold's draws in draw order (the soonest-expiring credits) and returns the others.
  v_left := v_keep;
  FOR v_draw IN
    SELECT ha.lot_id, ha.amount FROM credit_hold_allocation ha WHERE ha.hold_id = p_hold ORDER BY ha.position
  LOOP
    v_take := least(v_draw.amount, v_left);
    v_left := v_left - v_take;
    IF v_take > 0 THEN
      v_lots := v_lots || v_draw.lot_id;
      v_amounts := v_amounts || v_take;
    END IF;
    IF v_draw.amount > v_take THEN
      UPDATE credit_lot SET remaining = remaining + (v_draw.amount - v_take) WHERE id = v_draw.lot_id;
    END IF;
  END LOOP;

  IF v_wanted > 0 THEN
    IF v_short > 0 THEN
      FOR v_draw IN SELECT d.lot_id, d.amount FROM creditkit_draw_from_lots(o_user, v_short, v_now) d LOOP
        v_lots := v_lots || v_draw.lot_id;
        v_amounts := v_amounts || v_draw.amount;
      END LOOP;
    END IF;
    v_balance := v_balance - v_wanted;
    INSERT INTO credit_entry (user_id, type, amount, balance_after, description, reference, idempotency_key,
                              request_hash, metadata, created_at)
    VALUES (o_user, 'consume', -v_wanted, v_balance, coalesce(p_description, v_hold.description), p_hold::text,
            'creditkit/hold-capture:' || p_hold, 'capture:' || p_hold || ':' || v_wanted,
            jsonb_build_object('holdId', p_hold, 'reserved', v_hold.amount)
              || CASE WHEN v_hold.expired_amount > 0 THEN jsonb_build_object('expired', v_hold.expired_amount)
                      ELSE '{}'::jsonb END
              || CASE WHEN v_short > 0 THEN jsonb_build_object('fromAvailable', v_short) ELSE '{}'::jsonb END,
            v_now)
    RETURNING id INTO o_entry_id;
    INSERT INTO credit_allocation (entry_id, lot_id, amount)
    SELECT o_entry_id, k.lot_id, sum(k.amount) FROM unnest(v_lots, v_amounts) AS k(lot_id, amount) GROUP BY k.lot_id;
  END IF;

  UPDATE credit_hold SET status = v_outcome, captured_amount = v_wanted, capture_entry_id = o_entry_id, closed_at = v_now
  WHERE id = p_hold;
  v_held := v_held - v_reserved;
  UPDATE credit_account SET balance = v_balance, held = v_held, updated_at = now() WHERE user_id = o_user;
  o_returned := v_reserved - v_keep;

  IF v_debt > 0 THEN
    SELECT r.o_balance INTO v_balance
    FROM creditkit_repay_debt(o_user, 'creditkit/hold-' || CASE v_outcome WHEN 'captured' THEN 'capture'
                                                                WHEN 'released' THEN 'release'
                                                                ELSE 'expire' END || ':' || p_hold,
                              'hold:' || p_hold, v_now) r;
  END IF;

  o_status := v_outcome;
  o_hold_status := v_outcome;
  o_captured := v_wanted;
  o_balance := v_balance;
  o_available := v_balance - v_held;
END $$;

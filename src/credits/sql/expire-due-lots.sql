-- Expires every lot of the user that is past its date and still has credits, free or held by open holds:
-- one `expire` entry per lot, the lot zeroed, the holds' reservations and the account's balance and held
-- lowered. Held credits expire with their lot: a hold reserves credits, it does not extend their life, so
-- a capture never spends an expired credit and the ledger writes the expiry before the capture. Due means
-- due by the database's clock (p_now is for tests; NULL is now()). The caller holds the account's row lock
-- (creditkit_lock_account). Callers that keep the account's `held` in a variable re-read it when
-- o_expired > 0. An expiry entry's metadata names the lot's origin (lotSource, planId, periodStart,
-- periodEnd when the grant recorded them).
--
-- One rule, two entry points. creditkit_expire_due_lots_among judges only the lots in p_lots (NULL: all
-- the user's lots): the payment sandbox's test clock (src/credits/expire-lots-due-by.ts) moves one
-- subscription ahead of real time, and only that subscription's own lots may expire by its clock; every
-- other lot of the user (packages, gifts, grants, the Free plan) stays judged by the real clock.
-- creditkit_expire_due_lots (below) is the whole account, what every spend, grant, hold and the sweep run.
-- A second function rather than a fourth parameter on the first: CREATE OR REPLACE with another
-- parameter list would add an overload beside the three-parameter function every installed database
-- already has (and every three-argument call would then be ambiguous), so the old signature stays as it
-- was, delegating, and installing the files again over any database needs no DROP.
CREATE OR REPLACE FUNCTION creditkit_expire_due_lots_among(p_user text, p_balance bigint, p_now timestamptz,
  p_lots uuid[], OUT o_balance bigint, OUT o_expired integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_held bigint;
  v_held_expired bigint := 0;
  v_lots uuid[];
  v_lot record;
  v_reservation record;
  v_from_holds bigint;
  v_entry bigint;
BEGIN
  o_balance := p_balance;
  o_expired := 0;
  SELECT a.held INTO v_held FROM credit_account a WHERE a.user_id = p_user;
  -- Without open holds (the usual case) this is a single look-up of the due-lots index.
  IF coalesce(v_held, 0) = 0 THEN
    SELECT array_agg(l.id) INTO v_lots FROM credit_lot l
    WHERE l.user_id = p_user AND l.spendable AND l.expires_at <= v_now
      AND (p_lots IS NULL OR l.id = ANY (p_lots));
  ELSE
    SELECT array_agg(DISTINCT due.id) INTO v_lots FROM (
      SELECT l.id FROM credit_lot l WHERE l.user_id = p_user AND l.spendable AND l.expires_at <= v_now
        AND (p_lots IS NULL OR l.id = ANY (p_lots))
      UNION
      SELECT ha.lot_id FROM credit_hold h
        JOIN credit_hold_allocation ha ON ha.hold_id = h.id
        JOIN credit_lot l ON l.id = ha.lot_id
      WHERE h.user_id = p_user AND h.status = 'open' AND l.expires_at <= v_now
        AND (p_lots IS NULL OR l.id = ANY (p_lots))) due;
  END IF;
  IF v_lots IS NULL THEN
    RETURN;
  END IF;

  -- Each expiry names what expired (the lot's source and, for a subscription's credits, the plan and the
  -- period, copied from the lot's grant entry), so a history can say "unused Pro credits of Mar 1 - Mar 31
  -- expired" rather than only "credits expired".
  FOR v_lot IN
    SELECT l.id, l.remaining, l.expires_at,
           jsonb_strip_nulls(jsonb_build_object(
             'lotSource', l.source, 'planId', g.metadata ->> 'planId',
             'periodStart', g.metadata ->> 'periodStart', 'periodEnd', g.metadata ->> 'periodEnd')) AS origin
    FROM credit_lot l LEFT JOIN credit_entry g ON g.id = l.grant_entry_id
    WHERE l.id = ANY (v_lots)
    ORDER BY l.expires_at, l.created_at, l.id
  LOOP
    v_from_holds := 0;
    IF coalesce(v_held, 0) > 0 THEN
      FOR v_reservation IN
        SELECT ha.hold_id, ha.amount FROM credit_hold_allocation ha JOIN credit_hold h ON h.id = ha.hold_id
        WHERE ha.lot_id = v_lot.id AND h.status = 'open'
      LOOP
        UPDATE credit_hold SET expired_amount = expired_amount + v_reservation.amount WHERE id = v_reservation.hold_id;
        DELETE FROM credit_hold_allocation WHERE hold_id = v_reservation.hold_id AND lot_id = v_lot.id;
        v_from_holds := v_from_holds + v_reservation.amount;
      END LOOP;
    END IF;
    CONTINUE WHEN v_lot.remaining + v_from_holds = 0;
    o_balance := o_balance - v_lot.remaining - v_from_holds;
    v_held_expired := v_held_expired + v_from_holds;
    IF v_lot.remaining > 0 THEN
      UPDATE credit_lot SET remaining = 0 WHERE id = v_lot.id;
    END IF;
    INSERT INTO credit_entry (user_id, type, amount, balance_after, description, reference, idempotency_key,
                              request_hash, metadata, created_at)
    VALUES (p_user, 'expire', -(v_lot.remaining + v_from_holds), o_balance, 'Credits expired', v_lot.id::text,
            'expire:' || v_lot.id || ':' || gen_random_uuid(), 'expire:' || v_lot.id,
            jsonb_build_object('expiredAt', v_lot.expires_at, 'held', v_from_holds) || v_lot.origin, v_now)
    RETURNING id INTO v_entry;
    INSERT INTO credit_allocation (entry_id, lot_id, amount) VALUES (v_entry, v_lot.id, v_lot.remaining + v_from_holds);
    o_expired := o_expired + 1;
  END LOOP;
  IF o_expired > 0 THEN
    UPDATE credit_account SET balance = o_balance, held = held - v_held_expired, updated_at = now()
    WHERE user_id = p_user;
  END IF;
END $$;

-- The whole account: every lot of the user that is due (see above).
CREATE OR REPLACE FUNCTION creditkit_expire_due_lots(p_user text, p_balance bigint, p_now timestamptz,
  OUT o_balance bigint, OUT o_expired integer)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT x.o_balance, x.o_expired INTO o_balance, o_expired
  FROM creditkit_expire_due_lots_among(p_user, p_balance, p_now, NULL) x;
END $$;

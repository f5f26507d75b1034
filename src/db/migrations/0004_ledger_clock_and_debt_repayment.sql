-- Three rules of the ledger, each given one home here.
--
-- 1. Time is the database's. Every function below judges expiry and hold time-to-live by now() in SQL
--    (the start of the transaction), so app instances with skewed clocks agree. p_now stays as an explicit
--    time for tests only; production callers pass NULL.
-- 2. Held credits expire with their lot. A hold reserves credits, it does not extend their life: when a lot
--    expires, the credits of it that open holds reserve expire in the same `expire` entry as its free ones,
--    the holds' reservations (credit_hold.expired_amount) and the account's `held` shrink. Capture never
--    spends an expired credit, and the ledger writes the expiry before the capture.
-- 3. Every path that gives credits back repays debt first (creditkit_repay_debt): grants (purchases,
--    gifts, dispute reversals), a released hold, the rest of a capture, a hold past its time-to-live. So
--    while a user owes credits, nothing is spendable.

-- Expires every lot of the user that is past its date and still has credits, free or held by open holds:
-- one `expire` entry per lot, the lot zeroed, the holds' reservations and the account's balance and held
-- lowered. The caller holds the account's row lock. Callers that keep the account's `held` in a variable
-- re-read it when o_expired > 0.
CREATE OR REPLACE FUNCTION creditkit_expire_due_lots(p_user text, p_balance bigint, p_now timestamptz,
  OUT o_balance bigint, OUT o_expired integer)
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
  -- Without open holds (the usual case) this is the same single look-up of the due-lots index as before.
  IF coalesce(v_held, 0) = 0 THEN
    SELECT array_agg(l.id) INTO v_lots FROM credit_lot l
    WHERE l.user_id = p_user AND l.spendable AND l.expires_at <= v_now;
  ELSE
    SELECT array_agg(DISTINCT due.id) INTO v_lots FROM (
      SELECT l.id FROM credit_lot l WHERE l.user_id = p_user AND l.spendable AND l.expires_at <= v_now
      UNION
      SELECT ha.lot_id FROM credit_hold h
        JOIN credit_hold_allocation ha ON ha.hold_id = h.id
        JOIN credit_lot l ON l.id = ha.lot_id
      WHERE h.user_id = p_user AND h.status = 'open' AND l.expires_at <= v_now) due;
  END IF;
  IF v_lots IS NULL THEN
    RETURN;
  END IF;

  FOR v_lot IN
    SELECT l.id, l.remaining, l.expires_at FROM credit_lot l WHERE l.id = ANY (v_lots)
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
            jsonb_build_object('expiredAt', v_lot.expires_at, 'held', v_from_holds), v_now)
    RETURNING id INTO v_entry;
    INSERT INTO credit_allocation (entry_id, lot_id, amount) VALUES (v_entry, v_lot.id, v_lot.remaining + v_from_holds);
    o_expired := o_expired + 1;
  END LOOP;
  IF o_expired > 0 THEN
    UPDATE credit_account SET balance = o_balance, held = held - v_held_expired, updated_at = now()
    WHERE user_id = p_user;
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
  v_now timestamptz := coalesce(p_now, now());
  v_lot record;
  v_left bigint := p_amount;
  v_take bigint;
BEGIN
  FOR v_lot IN
    SELECT l.id, l.remaining FROM credit_lot l
    WHERE l.user_id = p_user AND l.spendable AND (l.expires_at IS NULL OR l.expires_at > v_now)
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
-- The key is claimed by the entry's own INSERT (ON CONFLICT on the unique (user_id, idempotency_key)
-- index), not by a lookup before it: a lookup can be planned on the user's history index and filter the
-- whole history when a hot user's statistics are stale. The key is looked up only when it conflicts, or
-- when the spend cannot be paid (a replay of an earlier successful spend must still get its first answer).
-- Debt needs no check here: every path that gives credits back repays it first, so while a user owes
-- credits, balance less held is 0.
CREATE OR REPLACE FUNCTION creditkit_consume(p_user text, p_amount bigint, p_type text, p_description text,
  p_key text, p_hash text, p_metadata jsonb, p_now timestamptz,
  OUT o_status text, OUT o_entry_id bigint, OUT o_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_balance bigint;
  v_held bigint;
  v_expired integer;
  v_existing record;
BEGIN
  -- The account row lock serializes every mutation of this user (see src/credits/lock-account.ts).
  SELECT a.balance, a.held INTO v_balance, v_held FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO credit_account (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
    SELECT a.balance, a.held INTO v_balance, v_held FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  END IF;

  SELECT x.o_balance, x.o_expired INTO v_balance, v_expired FROM creditkit_expire_due_lots(p_user, v_balance, v_now) x;
  IF v_expired > 0 THEN
    -- Held credits may have expired with their lots.
    SELECT a.held INTO v_held FROM credit_account a WHERE a.user_id = p_user;
  END IF;

  IF v_balance - v_held >= p_amount THEN
    INSERT INTO credit_entry (user_id, type, amount, balance_after, description, idempotency_key, request_hash,
                              metadata, created_at)
    VALUES (p_user, p_type, -p_amount, v_balance - p_amount, p_description, p_key, p_hash, p_metadata, v_now)
    ON CONFLICT (user_id, idempotency_key) DO NOTHING
    RETURNING id INTO o_entry_id;
    IF o_entry_id IS NOT NULL THEN
      INSERT INTO credit_allocation (entry_id, lot_id, amount)
      SELECT o_entry_id, d.lot_id, d.amount FROM creditkit_draw_from_lots(p_user, p_amount, v_now) d;
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
--> statement-breakpoint

-- The one home of the rule "credits that come back to a user repay their debt first". A refund or a lost
-- dispute that finds the credits already spent (or reserved by a hold) leaves a debt; if credits that come
-- back later were spendable while the debt stayed, the refunded customer could spend what they were paid
-- back for. Every path that gives credits back calls this after its own change, in its own transaction:
-- creditkit_add_credits (purchases, gifts, grants, dispute reversals) and creditkit_settle_hold (release,
-- the rest of a capture, a hold past its time-to-live).
--
-- Repays min(debt, credits spendable now) from the user's lots in spending order, as one `debt_repayment`
-- entry with its allocations. Its idempotency key is the cause's key plus ':debt-repayment' (one per step
-- of the history: a grant's key, or 'creditkit/hold-release:<hold id>'), so it happens at most once per cause and a
-- replayed cause finds its first answer. The caller holds the account's row lock.
CREATE OR REPLACE FUNCTION creditkit_repay_debt(p_user text, p_cause_key text, p_cause_hash text,
  p_now timestamptz, OUT o_repaid bigint, OUT o_balance bigint, OUT o_debt bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_key text := p_cause_key || ':debt-repayment';
  v_spendable bigint;
  v_entry bigint;
BEGIN
  o_repaid := 0;
  SELECT a.balance, a.debt INTO o_balance, o_debt FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  IF NOT FOUND OR o_debt = 0 THEN
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
--> statement-breakpoint

-- A grant in one statement (purchases, gifts, admin grants, dispute reversals): the user's row lock, the
-- idempotency check, expiry of due lots, the new lot, its ledger entry, and the repayment of any debt
-- (creditkit_repay_debt), in one round trip instead of about ten. Raises SQLSTATE CK409 when the
-- idempotency key was already used for a different grant, and CK400 when p_expires_at is not in the future
-- by the database's clock (such a grant would only write itself and its expiry; judged here, not by the
-- app server's clock, like every expiry).
CREATE OR REPLACE FUNCTION creditkit_add_credits(p_user text, p_amount bigint, p_type text, p_description text,
  p_key text, p_hash text, p_expires_at timestamptz, p_category text, p_reference text, p_purchase_id uuid,
  p_metadata jsonb, p_now timestamptz,
  OUT o_entry_id bigint, OUT o_lot_id uuid, OUT o_balance bigint, OUT o_replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_balance bigint;
  v_debt bigint;
  v_existing record;
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
  IF p_expires_at <= v_now THEN
    RAISE EXCEPTION 'the grant would expire before it is made' USING ERRCODE = 'CK400';
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
  o_balance := v_balance;
  o_replayed := false;

  IF v_debt > 0 THEN
    SELECT r.o_balance INTO o_balance FROM creditkit_repay_debt(p_user, p_key, p_hash, v_now) r;
  END IF;
END $$;
--> statement-breakpoint

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
  SELECT a.balance, a.held, a.debt INTO v_balance, v_held, v_debt
  FROM credit_account a WHERE a.user_id = o_user FOR UPDATE;
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
--> statement-breakpoint

-- Accounts that already owe credits while holding spendable ones (a hold released after a refund found its
-- credits reserved, before this migration) repay now, once.
SELECT r.o_repaid
FROM (SELECT a.user_id FROM credit_account a WHERE a.debt > 0 AND a.balance > a.held ORDER BY a.user_id) owing,
     LATERAL creditkit_repay_debt(owing.user_id, 'creditkit/migration:0004', 'migration:0004', NULL) r;

-- The ledger's hot paths as server-side functions. A spend is the most frequent money mutation; done from
-- the application it costs about ten round trips (begin, lock, idempotency check, expiry, lots, updates,
-- inserts, commit), each one holding the user's row lock a little longer. As one function call it is a
-- single statement: one round trip, atomic by itself, and the row lock is held only while the server runs
-- it. The TypeScript in src/credits validates input and maps results; the rules live here once.

-- Room on each page for the new version of a row, so the frequent updates of lots and accounts stay HOT
-- (the lot indexes filter on the generated `spendable` flag, not on `remaining`, for the same reason).
ALTER TABLE "credit_lot" SET (fillfactor = 85);
--> statement-breakpoint
ALTER TABLE "credit_account" SET (fillfactor = 85);
--> statement-breakpoint

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
    WHERE l.user_id = p_user AND l.spendable AND l.expires_at <= p_now
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
    WHERE l.user_id = p_user AND l.spendable AND (l.expires_at IS NULL OR l.expires_at > p_now)
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
--> statement-breakpoint

-- Several spends of one user in one statement, each with its own outcome, in the order given. Used when
-- spends for the same user queue up behind each other (see src/credits/coalesce-spends.ts): instead of
-- taking the user's row lock and flushing a commit once per spend, the queued spends share one lock
-- acquisition and one commit. Each spend is still checked on its own (idempotency key, available balance)
-- exactly as creditkit_consume does, against the result of the spends before it.
CREATE OR REPLACE FUNCTION creditkit_consume_batch(p_user text, p_amounts bigint[], p_types text[],
  p_descriptions text[], p_keys text[], p_hashes text[], p_metadata jsonb[], p_now timestamptz[])
RETURNS TABLE (o_status text, o_entry_id bigint, o_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_spend record;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_amounts, 1), 0) LOOP
    SELECT * INTO v_spend FROM creditkit_consume(p_user, p_amounts[i], p_types[i], p_descriptions[i], p_keys[i],
                                                 p_hashes[i], p_metadata[i], p_now[i]);
    o_status := v_spend.o_status;
    o_entry_id := v_spend.o_entry_id;
    o_balance := v_spend.o_balance;
    RETURN NEXT;
  END LOOP;
END $$;
--> statement-breakpoint

-- The service API's spend in one statement. Other backends call POST /api/v1/users/{id}/consume far more
-- often than anything else; done step by step it takes a transaction with the idempotency claim, a user
-- check, the spend and the stored response (six round trips). As one function call it is one round trip,
-- with the same guarantees: the (API key, Idempotency-Key) row is claimed in the same transaction as the
-- spend, so a concurrent retry waits for it and then gets the stored response.
--
-- Outcomes that must not be stored (so that a corrected retry can succeed) are raised, which rolls the
-- claim back with everything else: SQLSTATE CK404 for an unknown user, CK409 when the ledger's own
-- idempotency key was used for a different spend.
CREATE OR REPLACE FUNCTION creditkit_api_consume(p_api_key uuid, p_idempotency_key text, p_request_hash text,
  p_user text, p_amount bigint, p_description text, p_ledger_key text, p_ledger_hash text, p_metadata jsonb,
  p_now timestamptz, OUT o_status integer, OUT o_body jsonb, OUT o_replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_stored record;
  v_spend record;
BEGIN
  INSERT INTO api_idempotency (api_key_id, idempotency_key, request_hash, response_status, response_body)
  VALUES (p_api_key, p_idempotency_key, p_request_hash, 0, '{}'::jsonb)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    SELECT i.request_hash, i.response_status, i.response_body INTO v_stored
    FROM api_idempotency i WHERE i.api_key_id = p_api_key AND i.idempotency_key = p_idempotency_key;
    IF v_stored.request_hash <> p_request_hash THEN
      RAISE EXCEPTION 'idempotency key reused with a different request' USING ERRCODE = 'CK409';
    END IF;
    o_status := v_stored.response_status;
    o_body := v_stored.response_body;
    o_replayed := true;
    RETURN;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM "user" u WHERE u.id = p_user) THEN
    RAISE EXCEPTION 'unknown user' USING ERRCODE = 'CK404';
  END IF;

  SELECT * INTO v_spend
  FROM creditkit_consume(p_user, p_amount, 'consume', p_description, p_ledger_key, p_ledger_hash, p_metadata, p_now);
  IF v_spend.o_status = 'conflict' THEN
    RAISE EXCEPTION 'ledger idempotency key reused with a different request' USING ERRCODE = 'CK409';
  ELSIF v_spend.o_status = 'insufficient' THEN
    o_status := 402;
    o_body := jsonb_build_object('error', jsonb_build_object(
      'code', 'insufficient_credits', 'message', 'Not enough credits.', 'available', v_spend.o_balance));
  ELSE
    o_status := 200;
    o_body := jsonb_build_object('entryId', v_spend.o_entry_id::text, 'balance', v_spend.o_balance);
  END IF;

  UPDATE api_idempotency SET response_status = o_status, response_body = o_body
  WHERE api_key_id = p_api_key AND idempotency_key = p_idempotency_key;
  o_replayed := false;
END $$;
--> statement-breakpoint

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
--> statement-breakpoint

-- One step of the expiry sweep in one statement: for each given user (in user-id order) the account's row
-- lock is taken and the due lots are expired with creditkit_expire_due_lots. Done from the application
-- this is three round trips per user; here it is one per batch, and the batch's locks are held only while
-- the server runs it. Locking in user-id order keeps concurrent sweeps from deadlocking with each other.
CREATE OR REPLACE FUNCTION creditkit_sweep_expired_lots(p_now timestamptz, p_users text[],
  OUT o_users integer, OUT o_lots integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_balance bigint;
  v_expired integer;
BEGIN
  o_users := 0;
  o_lots := 0;
  FOR v_user IN SELECT u FROM unnest(p_users) AS u ORDER BY u LOOP
    SELECT a.balance INTO v_balance FROM credit_account a WHERE a.user_id = v_user FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    SELECT x.o_expired INTO v_expired FROM creditkit_expire_due_lots(v_user, v_balance, p_now) x;
    o_users := o_users + 1;
    o_lots := o_lots + v_expired;
  END LOOP;
END $$;

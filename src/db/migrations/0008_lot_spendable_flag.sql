DROP INDEX "credit_lot_spendable_idx";--> statement-breakpoint
DROP INDEX "credit_lot_due_idx";--> statement-breakpoint
ALTER TABLE "credit_lot" ADD COLUMN "spendable" boolean GENERATED ALWAYS AS (remaining > 0) STORED;--> statement-breakpoint
CREATE INDEX "credit_lot_spendable_idx" ON "credit_lot" USING btree ("user_id","expires_at","created_at") WHERE "credit_lot"."spendable";--> statement-breakpoint
CREATE INDEX "credit_lot_due_idx" ON "credit_lot" USING btree ("expires_at") WHERE "credit_lot"."spendable" AND "credit_lot"."expires_at" IS NOT NULL;--> statement-breakpoint
-- Room on each page for the new version of a row, so the frequent updates of lots and accounts stay HOT.
ALTER TABLE "credit_lot" SET (fillfactor = 85);--> statement-breakpoint
ALTER TABLE "credit_account" SET (fillfactor = 85);--> statement-breakpoint
-- The lot queries of the ledger functions filter on the flag, so they use the partial indexes above.
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

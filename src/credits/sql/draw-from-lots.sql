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

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
    v_spend := creditkit_consume(p_user, p_amounts[i], p_types[i], p_descriptions[i], p_keys[i], p_hashes[i],
                                 p_metadata[i], p_now[i]);
    o_status := v_spend.o_status;
    o_entry_id := v_spend.o_entry_id;
    o_balance := v_spend.o_balance;
    RETURN NEXT;
  END LOOP;
END $$;

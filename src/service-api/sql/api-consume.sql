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

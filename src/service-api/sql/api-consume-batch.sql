-- Group commit for the service API's spend: several POST /api/v1/users/{id}/consume requests, for any
-- users, in one statement and so one transaction and one commit (src/service-api/api-spend-batches.ts
-- gathers the requests that arrive while earlier ones are running).
--
-- Why: a spend's own work is a few index look-ups and inserts; the round trip, the transaction and the
-- commit around it cost about as much again. Spends that wait behind each other anyway share them here.
-- Each spend is still checked on its own by creditkit_api_consume (its Idempotency-Key, its user, its
-- available credits, its answer recorded), exactly as when it runs alone.
--
-- Lock order is fixed: spends run in the order of their user ids (byte order, so every session sorts
-- alike), then in arrival order. Two batches that share users take the users' row locks in the same
-- order and cannot deadlock on them; one user's spends keep their arrival order.
--
-- All or nothing: one statement, so an error in any spend rolls the whole batch back; the caller then runs
-- each spend alone, and only the spend that fails again is answered with its error.
--
-- Short lock waits: a statement waits for a slot of the caller's few (4) concurrent statements, so a spend
-- whose account is locked by a slow transaction (a webhook, an operator's session) must not keep its slot,
-- and every other user's spend waiting behind it, for the session's lock_timeout (5 s). Here a lock that is
-- not granted within 250 ms (a batch holds its locks for a few milliseconds) fails the batch with 55P03;
-- the caller then runs each of its spends alone, outside the slots, with the usual timeout. The same bound
-- ends a deadlock with a client's key reused on another route before deadlock_timeout (1 s) would.
--
-- Returns one row per spend with o_index, the spend's position in the arrays (1-based), and the columns of
-- creditkit_api_consume.
CREATE OR REPLACE FUNCTION creditkit_api_consume_batch(p_api_keys uuid[], p_idempotency_keys text[],
  p_request_hashes text[], p_users text[], p_amounts bigint[], p_descriptions text[], p_ledger_keys text[],
  p_ledger_hashes text[], p_metadata jsonb[], p_now timestamptz[], p_status_spent integer,
  p_status_insufficient integer)
RETURNS TABLE (o_index integer, o_outcome text, o_entry_id bigint, o_balance bigint, o_stored_hash text,
  o_stored_status integer, o_stored_body jsonb)
LANGUAGE plpgsql
SET lock_timeout = '250ms'
AS $$
DECLARE
  v_i integer;
  v_spend record;
BEGIN
  FOR v_i IN
    SELECT s.i FROM generate_subscripts(p_users, 1) AS s(i) ORDER BY p_users[s.i] COLLATE "C", s.i
  LOOP
    v_spend := creditkit_api_consume(p_api_keys[v_i], p_idempotency_keys[v_i], p_request_hashes[v_i],
      p_users[v_i], p_amounts[v_i], p_descriptions[v_i], p_ledger_keys[v_i], p_ledger_hashes[v_i],
      p_metadata[v_i], p_now[v_i], p_status_spent, p_status_insufficient);
    o_index := v_i;
    o_outcome := v_spend.o_outcome;
    o_entry_id := v_spend.o_entry_id;
    o_balance := v_spend.o_balance;
    o_stored_hash := v_spend.o_stored_hash;
    o_stored_status := v_spend.o_stored_status;
    o_stored_body := v_spend.o_stored_body;
    RETURN NEXT;
  END LOOP;
END $$;

-- One step of the expiry sweep in one statement: for each given user (in user-id order) the account's row
-- lock is taken and the due lots are expired with creditkit_expire_due_lots. Done from the application
-- this is three round trips per user; here it is one per batch, and the batch's locks are held only while
-- the server runs it. Locking in user-id order keeps concurrent sweeps from deadlocking with each other,
-- and with batches of service-API spends (src/service-api/sql/api-consume-batch.sql), which lock in the
-- same order: byte order (COLLATE "C"), not the database's default collation, under which `aUser` may
-- sort before `BUser` where byte order puts it after.
-- The one lock that does not go through creditkit_lock_account: the sweep must never create an account,
-- and a user deleted since the caller found their lots (the account goes with them) is skipped.
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
  FOR v_user IN SELECT u FROM unnest(p_users) AS u ORDER BY u COLLATE "C" LOOP
    SELECT a.balance INTO v_balance FROM credit_account a WHERE a.user_id = v_user FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    SELECT x.o_expired INTO v_expired FROM creditkit_expire_due_lots(v_user, v_balance, p_now) x;
    o_users := o_users + 1;
    o_lots := o_lots + v_expired;
  END LOOP;
END $$;

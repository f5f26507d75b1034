-- The one home of "lock or create the account": called by src/credits/lock-account.ts and by every ledger
-- function that takes the lock (spends, grants, debt repayment, settling a hold); only the sweep locks on
-- its own, because it must never create an account.
--
-- The account's row lock serializes every mutation of one user: a spend touches several rows (lots, the
-- entry, its allocations, the account) and must read a consistent set of lots to draw from in expiry
-- order. Holding the lock makes every mutation of one user run one after another under READ COMMITTED, so
-- the balance-after chain, the idempotency checks and the lot draw-down all see the previous mutation's
-- committed result. Different users never wait on each other.
--
-- The account is created on first use (a user who never had credits has none); the usual case, an account
-- that exists, is one index look-up. Two first uses at once both insert, one wins (ON CONFLICT), and both
-- then lock the same row. Returns the account as locked: balance (held credits included), held, debt.
CREATE OR REPLACE FUNCTION creditkit_lock_account(p_user text,
  OUT o_balance bigint, OUT o_held bigint, OUT o_debt bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT a.balance, a.held, a.debt INTO o_balance, o_held, o_debt
  FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO credit_account (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
    SELECT a.balance, a.held, a.debt INTO o_balance, o_held, o_debt
    FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  END IF;
END $$;

-- Daily aggregates of the ledger for the operators' overview (src/admin/get-ledger-overview.ts), kept by
-- triggers in the transaction of every write, whichever entry point made it (SQL functions, TypeScript use
-- cases, the service API, webhooks, jobs, the CLI): a write cannot commit without its aggregate change, and
-- one that rolls back takes it along. So the overview never scans the ledger, and is exact at every commit.
--
-- Each aggregate is a table of sums (one row per key) and a table of deltas. The triggers only INSERT deltas:
-- no row is shared between writers, so a spend never waits on another account's write, and a transaction
-- that locks several accounts in order (the expiry sweep, a batch of spends) can never deadlock against a
-- spend over an aggregate row, as it could if every write updated shared sum rows.
-- creditkit_compact_ledger_aggregates folds the deltas into the sums (the sweep job calls it every minute),
-- so readers, which add sums and deltas, read few rows. `verify` recomputes sums + deltas from the ledger
-- (src/credits/verify-ledger-aggregates.ts).
--
-- Each trigger adds the row's new contribution and subtracts its old one (INSERT: new only; DELETE: old
-- only), so updates and the cascade of a deleted account keep the sums equal to the tables' contents.
--
-- Installed on every migrate with the other functions (src/db/sql-functions.ts); the numbered migration
-- 0024 created the tables, the first version of these triggers, and backfilled the sums.

-- credit_entry: per UTC day and type, credits in, credits out, debt change, count.
CREATE OR REPLACE FUNCTION creditkit_credit_entry_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO credit_daily_total_delta (day, entry_type, credits_in, credits_out, debt_change, entries)
    VALUES ((OLD.created_at AT TIME ZONE 'UTC')::date, OLD.type,
            -greatest(OLD.amount, 0), -greatest(-OLD.amount, 0), -OLD.debt_change, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO credit_daily_total_delta (day, entry_type, credits_in, credits_out, debt_change, entries)
    VALUES ((NEW.created_at AT TIME ZONE 'UTC')::date, NEW.type,
            greatest(NEW.amount, 0), greatest(-NEW.amount, 0), NEW.debt_change, 1);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_entry_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_entry
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_entry_aggregate();

-- credit_lot: credits left per category and source. Only a change of `remaining` (or of what it is counted
-- under) writes a delta, so lot updates that change nothing here cost one comparison.
CREATE OR REPLACE FUNCTION creditkit_credit_lot_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.remaining = NEW.remaining AND OLD.category = NEW.category
     AND OLD.source = NEW.source THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.category = NEW.category AND OLD.source = NEW.source THEN
    INSERT INTO credit_outstanding_delta (category, source, remaining)
    VALUES (NEW.category, NEW.source, NEW.remaining - OLD.remaining);
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.remaining <> 0 THEN
    INSERT INTO credit_outstanding_delta (category, source, remaining) VALUES (OLD.category, OLD.source, -OLD.remaining);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.remaining <> 0 THEN
    INSERT INTO credit_outstanding_delta (category, source, remaining) VALUES (NEW.category, NEW.source, NEW.remaining);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_lot_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_lot
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_lot_aggregate();

-- credit_account: the sums of balance, held and debt. Held credits are part of the balance but no longer in
-- any lot; the overview shows them beside the lots' paid and promotional credits.
CREATE OR REPLACE FUNCTION creditkit_credit_account_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.balance <> 0 OR NEW.held <> 0 OR NEW.debt <> 0 THEN
      INSERT INTO credit_account_total_delta (balance, held, debt) VALUES (NEW.balance, NEW.held, NEW.debt);
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF OLD.balance <> 0 OR OLD.held <> 0 OR OLD.debt <> 0 THEN
      INSERT INTO credit_account_total_delta (balance, held, debt) VALUES (-OLD.balance, -OLD.held, -OLD.debt);
    END IF;
  ELSIF OLD.balance <> NEW.balance OR OLD.held <> NEW.held OR OLD.debt <> NEW.debt THEN
    INSERT INTO credit_account_total_delta (balance, held, debt)
    VALUES (NEW.balance - OLD.balance, NEW.held - OLD.held, NEW.debt - OLD.debt);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_account_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_account
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_account_aggregate();

-- credit_purchase: revenue of succeeded purchases per UTC day of the purchase's creation, kind, package or
-- plan and currency (minor units; currencies are never added together). A purchase counts once it has
-- succeeded; `refunded` follows its amount_refunded.
CREATE OR REPLACE FUNCTION creditkit_purchase_revenue_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.amount_refunded = NEW.amount_refunded
     AND OLD.amount = NEW.amount AND OLD.currency = NEW.currency AND OLD.package_id = NEW.package_id
     AND OLD.kind = NEW.kind AND OLD.created_at = NEW.created_at THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'succeeded' THEN
    INSERT INTO purchase_daily_revenue_delta (day, kind, package_id, currency, purchases, amount, refunded)
    VALUES ((OLD.created_at AT TIME ZONE 'UTC')::date, OLD.kind, OLD.package_id, OLD.currency, -1, -OLD.amount,
            -OLD.amount_refunded);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'succeeded' THEN
    INSERT INTO purchase_daily_revenue_delta (day, kind, package_id, currency, purchases, amount, refunded)
    VALUES ((NEW.created_at AT TIME ZONE 'UTC')::date, NEW.kind, NEW.package_id, NEW.currency, 1, NEW.amount,
            NEW.amount_refunded);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_purchase_revenue_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_purchase
FOR EACH ROW EXECUTE FUNCTION creditkit_purchase_revenue_aggregate();

-- Folds every committed delta into the sums, in one transaction: each DELETE ... RETURNING takes exactly the
-- deltas its snapshot sees and adds them, so a delta is counted in the sums or in the deltas, never in both
-- or neither (one committed later stays for the next run). Compactions queue on an advisory lock, so two app
-- instances' jobs never update the same sum rows at once. Returns how many deltas were folded.
CREATE OR REPLACE FUNCTION creditkit_compact_ledger_aggregates() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_folded bigint := 0;
  v_n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(727002);
  WITH moved AS (DELETE FROM credit_daily_total_delta RETURNING *),
  folded AS (
    INSERT INTO credit_daily_total AS t (day, entry_type, credits_in, credits_out, debt_change, entries)
    SELECT day, entry_type, sum(credits_in), sum(credits_out), sum(debt_change), sum(entries)
    FROM moved GROUP BY day, entry_type
    ON CONFLICT (day, entry_type) DO UPDATE
      SET credits_in = t.credits_in + excluded.credits_in, credits_out = t.credits_out + excluded.credits_out,
          debt_change = t.debt_change + excluded.debt_change, entries = t.entries + excluded.entries
    RETURNING 1)
  SELECT count(*) INTO v_n FROM moved;
  v_folded := v_folded + v_n;

  WITH moved AS (DELETE FROM credit_outstanding_delta RETURNING *),
  folded AS (
    INSERT INTO credit_outstanding AS o (category, source, remaining)
    SELECT category, source, sum(remaining) FROM moved GROUP BY category, source
    ON CONFLICT (category, source) DO UPDATE SET remaining = o.remaining + excluded.remaining
    RETURNING 1)
  SELECT count(*) INTO v_n FROM moved;
  v_folded := v_folded + v_n;

  WITH moved AS (DELETE FROM credit_account_total_delta RETURNING *),
  folded AS (
    INSERT INTO credit_account_total AS a (id, balance, held, debt)
    SELECT 1, sum(balance), sum(held), sum(debt) FROM moved HAVING count(*) > 0
    ON CONFLICT (id) DO UPDATE
      SET balance = a.balance + excluded.balance, held = a.held + excluded.held, debt = a.debt + excluded.debt
    RETURNING 1)
  SELECT count(*) INTO v_n FROM moved;
  v_folded := v_folded + v_n;

  WITH moved AS (DELETE FROM purchase_daily_revenue_delta RETURNING *),
  folded AS (
    INSERT INTO purchase_daily_revenue AS r (day, kind, package_id, currency, purchases, amount, refunded)
    SELECT day, kind, package_id, currency, sum(purchases), sum(amount), sum(refunded)
    FROM moved GROUP BY day, kind, package_id, currency
    ON CONFLICT (day, kind, package_id, currency) DO UPDATE
      SET purchases = r.purchases + excluded.purchases, amount = r.amount + excluded.amount,
          refunded = r.refunded + excluded.refunded
    RETURNING 1)
  SELECT count(*) INTO v_n FROM moved;
  RETURN v_folded + v_n;
END $$;

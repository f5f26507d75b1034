-- Daily aggregates of the ledger for the operators' overview (src/admin/get-ledger-overview.ts), kept by
-- triggers in the transaction of every write, whichever entry point made it (SQL functions, TypeScript use
-- cases, the service API, webhooks, jobs, the CLI): a write cannot commit without its aggregate change, and
-- one that rolls back takes it along. So the overview never scans the ledger, and is exact at every commit.
-- `verify` recomputes every aggregate from the ledger (src/credits/verify-ledger-aggregates.ts).
--
-- Each trigger adds the row's new contribution and subtracts its old one (INSERT: new only; DELETE: old
-- only), so updates and the cascade of a deleted account keep the sums equal to the tables' contents.
-- Aggregate rows are split into 16 shards by the account id's hash: spends of different accounts rarely
-- wait on one row lock, and a transaction that changes one account touches one shard.
--
-- Installed on every migrate with the other functions (src/db/sql-functions.ts); the numbered migration
-- 0022 created the tables, the first version of these triggers and backfilled the sums.

CREATE OR REPLACE FUNCTION creditkit_aggregate_shard(p_user text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
  SELECT (hashtext(p_user) & 15)::smallint
$$;

-- credit_entry: per UTC day and type, credits in, credits out, debt change, count.
CREATE OR REPLACE FUNCTION creditkit_credit_entry_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO credit_daily_total AS t (day, entry_type, shard, credits_in, credits_out, debt_change, entries)
    VALUES ((OLD.created_at AT TIME ZONE 'UTC')::date, OLD.type, creditkit_aggregate_shard(OLD.user_id),
            -greatest(OLD.amount, 0), -greatest(-OLD.amount, 0), -OLD.debt_change, -1)
    ON CONFLICT (day, entry_type, shard) DO UPDATE
      SET credits_in = t.credits_in + excluded.credits_in, credits_out = t.credits_out + excluded.credits_out,
          debt_change = t.debt_change + excluded.debt_change, entries = t.entries + excluded.entries;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO credit_daily_total AS t (day, entry_type, shard, credits_in, credits_out, debt_change, entries)
    VALUES ((NEW.created_at AT TIME ZONE 'UTC')::date, NEW.type, creditkit_aggregate_shard(NEW.user_id),
            greatest(NEW.amount, 0), greatest(-NEW.amount, 0), NEW.debt_change, 1)
    ON CONFLICT (day, entry_type, shard) DO UPDATE
      SET credits_in = t.credits_in + excluded.credits_in, credits_out = t.credits_out + excluded.credits_out,
          debt_change = t.debt_change + excluded.debt_change, entries = t.entries + excluded.entries;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_entry_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_entry
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_entry_aggregate();

-- credit_lot: credits left per category and source. Only a change of `remaining` (or of what it is counted
-- under) does anything, so the lot updates that change nothing here cost one comparison.
CREATE OR REPLACE FUNCTION creditkit_credit_lot_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.remaining = NEW.remaining AND OLD.category = NEW.category
     AND OLD.source = NEW.source AND OLD.user_id = NEW.user_id THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.remaining <> 0 THEN
    INSERT INTO credit_outstanding AS o (category, source, shard, remaining)
    VALUES (OLD.category, OLD.source, creditkit_aggregate_shard(OLD.user_id), -OLD.remaining)
    ON CONFLICT (category, source, shard) DO UPDATE SET remaining = o.remaining + excluded.remaining;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.remaining <> 0 THEN
    INSERT INTO credit_outstanding AS o (category, source, shard, remaining)
    VALUES (NEW.category, NEW.source, creditkit_aggregate_shard(NEW.user_id), NEW.remaining)
    ON CONFLICT (category, source, shard) DO UPDATE SET remaining = o.remaining + excluded.remaining;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_lot_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_lot
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_lot_aggregate();

-- credit_account: the sums of balance, held and debt. Held credits are part of the balance but no longer in
-- any lot; the overview shows them beside the lots' paid and promotional credits.
CREATE OR REPLACE FUNCTION creditkit_credit_account_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_balance bigint := 0;
  v_held bigint := 0;
  v_debt bigint := 0;
  v_shard smallint;
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.balance = NEW.balance AND OLD.held = NEW.held AND OLD.debt = NEW.debt THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    v_balance := -OLD.balance; v_held := -OLD.held; v_debt := -OLD.debt;
    v_shard := creditkit_aggregate_shard(OLD.user_id);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    v_balance := v_balance + NEW.balance; v_held := v_held + NEW.held; v_debt := v_debt + NEW.debt;
    v_shard := creditkit_aggregate_shard(NEW.user_id);
  END IF;
  INSERT INTO credit_account_total AS a (shard, balance, held, debt)
  VALUES (v_shard, v_balance, v_held, v_debt)
  ON CONFLICT (shard) DO UPDATE
    SET balance = a.balance + excluded.balance, held = a.held + excluded.held, debt = a.debt + excluded.debt;
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
    INSERT INTO purchase_daily_revenue AS r (day, kind, package_id, currency, purchases, amount, refunded)
    VALUES ((OLD.created_at AT TIME ZONE 'UTC')::date, OLD.kind, OLD.package_id, OLD.currency, -1, -OLD.amount,
            -OLD.amount_refunded)
    ON CONFLICT (day, kind, package_id, currency) DO UPDATE
      SET purchases = r.purchases + excluded.purchases, amount = r.amount + excluded.amount,
          refunded = r.refunded + excluded.refunded;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'succeeded' THEN
    INSERT INTO purchase_daily_revenue AS r (day, kind, package_id, currency, purchases, amount, refunded)
    VALUES ((NEW.created_at AT TIME ZONE 'UTC')::date, NEW.kind, NEW.package_id, NEW.currency, 1, NEW.amount,
            NEW.amount_refunded)
    ON CONFLICT (day, kind, package_id, currency) DO UPDATE
      SET purchases = r.purchases + excluded.purchases, amount = r.amount + excluded.amount,
          refunded = r.refunded + excluded.refunded;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_purchase_revenue_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_purchase
FOR EACH ROW EXECUTE FUNCTION creditkit_purchase_revenue_aggregate();

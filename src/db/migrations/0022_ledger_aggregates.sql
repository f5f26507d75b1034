CREATE TABLE "credit_account_total" (
	"shard" smallint PRIMARY KEY NOT NULL,
	"balance" bigint DEFAULT 0 NOT NULL,
	"held" bigint DEFAULT 0 NOT NULL,
	"debt" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_daily_total" (
	"day" date NOT NULL,
	"entry_type" text NOT NULL,
	"shard" smallint NOT NULL,
	"credits_in" bigint DEFAULT 0 NOT NULL,
	"credits_out" bigint DEFAULT 0 NOT NULL,
	"debt_change" bigint DEFAULT 0 NOT NULL,
	"entries" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "credit_daily_total_day_entry_type_shard_pk" PRIMARY KEY("day","entry_type","shard")
);
--> statement-breakpoint
CREATE TABLE "credit_outstanding" (
	"category" text NOT NULL,
	"source" text NOT NULL,
	"shard" smallint NOT NULL,
	"remaining" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "credit_outstanding_category_source_shard_pk" PRIMARY KEY("category","source","shard")
);
--> statement-breakpoint
CREATE TABLE "purchase_daily_revenue" (
	"day" date NOT NULL,
	"kind" text NOT NULL,
	"package_id" text NOT NULL,
	"currency" text NOT NULL,
	"purchases" integer DEFAULT 0 NOT NULL,
	"amount" bigint DEFAULT 0 NOT NULL,
	"refunded" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "purchase_daily_revenue_day_kind_package_id_currency_pk" PRIMARY KEY("day","kind","package_id","currency")
);--> statement-breakpoint
-- The triggers of src/credits/sql/ledger-aggregates.sql as first installed (every migrate reinstalls the file),
-- then the sums of the ledger as it stands.
CREATE OR REPLACE FUNCTION creditkit_aggregate_shard(p_user text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
  SELECT (hashtext(p_user) & 15)::smallint
$$;
--> statement-breakpoint
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
--> statement-breakpoint
CREATE OR REPLACE TRIGGER credit_entry_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_entry
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_entry_aggregate();
--> statement-breakpoint
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
--> statement-breakpoint
CREATE OR REPLACE TRIGGER credit_lot_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_lot
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_lot_aggregate();
--> statement-breakpoint
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
--> statement-breakpoint
CREATE OR REPLACE TRIGGER credit_account_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_account
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_account_aggregate();
--> statement-breakpoint
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
--> statement-breakpoint
CREATE OR REPLACE TRIGGER credit_purchase_revenue_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_purchase
FOR EACH ROW EXECUTE FUNCTION creditkit_purchase_revenue_aggregate();
--> statement-breakpoint
-- Exact from the first commit: no ledger write may land between the sums below and the triggers above
-- (they commit together), so writers wait for this migration.
LOCK TABLE credit_account, credit_lot, credit_entry, credit_purchase IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
INSERT INTO credit_daily_total (day, entry_type, shard, credits_in, credits_out, debt_change, entries)
SELECT (created_at AT TIME ZONE 'UTC')::date, type, creditkit_aggregate_shard(user_id),
       sum(greatest(amount, 0)), sum(greatest(-amount, 0)), sum(debt_change), count(*)
FROM credit_entry GROUP BY 1, 2, 3;
--> statement-breakpoint
INSERT INTO credit_outstanding (category, source, shard, remaining)
SELECT category, source, creditkit_aggregate_shard(user_id), sum(remaining)
FROM credit_lot WHERE remaining <> 0 GROUP BY 1, 2, 3;
--> statement-breakpoint
INSERT INTO credit_account_total (shard, balance, held, debt)
SELECT creditkit_aggregate_shard(user_id), sum(balance), sum(held), sum(debt)
FROM credit_account GROUP BY 1;
--> statement-breakpoint
INSERT INTO purchase_daily_revenue (day, kind, package_id, currency, purchases, amount, refunded)
SELECT (created_at AT TIME ZONE 'UTC')::date, kind, package_id, currency, count(*), sum(amount), sum(amount_refunded)
FROM credit_purchase WHERE status = 'succeeded' GROUP BY 1, 2, 3, 4;

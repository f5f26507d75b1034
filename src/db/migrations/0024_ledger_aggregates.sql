CREATE TABLE "credit_account_total" (
	"id" integer PRIMARY KEY NOT NULL,
	"balance" bigint DEFAULT 0 NOT NULL,
	"held" bigint DEFAULT 0 NOT NULL,
	"debt" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_account_total_delta" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "credit_account_total_delta_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"balance" bigint NOT NULL,
	"held" bigint NOT NULL,
	"debt" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_daily_total" (
	"day" date NOT NULL,
	"entry_type" text NOT NULL,
	"credits_in" bigint DEFAULT 0 NOT NULL,
	"credits_out" bigint DEFAULT 0 NOT NULL,
	"debt_change" bigint DEFAULT 0 NOT NULL,
	"entries" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "credit_daily_total_day_entry_type_pk" PRIMARY KEY("day","entry_type")
);
--> statement-breakpoint
CREATE TABLE "credit_daily_total_delta" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "credit_daily_total_delta_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"day" date NOT NULL,
	"entry_type" text NOT NULL,
	"credits_in" bigint NOT NULL,
	"credits_out" bigint NOT NULL,
	"debt_change" bigint NOT NULL,
	"entries" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_outstanding" (
	"category" text NOT NULL,
	"source" text NOT NULL,
	"remaining" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "credit_outstanding_category_source_pk" PRIMARY KEY("category","source")
);
--> statement-breakpoint
CREATE TABLE "credit_outstanding_delta" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "credit_outstanding_delta_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"category" text NOT NULL,
	"source" text NOT NULL,
	"remaining" bigint NOT NULL
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
);
--> statement-breakpoint
CREATE TABLE "purchase_daily_revenue_delta" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "purchase_daily_revenue_delta_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"day" date NOT NULL,
	"kind" text NOT NULL,
	"package_id" text NOT NULL,
	"currency" text NOT NULL,
	"purchases" integer NOT NULL,
	"amount" bigint NOT NULL,
	"refunded" bigint NOT NULL
);--> statement-breakpoint
-- The triggers of src/credits/sql/ledger-aggregates.sql as first installed (every migrate reinstalls the file),
-- then the sums of the ledger as it stands.
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
--> statement-breakpoint
CREATE OR REPLACE TRIGGER credit_entry_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_entry
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_entry_aggregate();
--> statement-breakpoint
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
--> statement-breakpoint
CREATE OR REPLACE TRIGGER credit_lot_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_lot
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_lot_aggregate();
--> statement-breakpoint
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
--> statement-breakpoint
CREATE OR REPLACE TRIGGER credit_purchase_revenue_aggregate AFTER INSERT OR UPDATE OR DELETE ON credit_purchase
FOR EACH ROW EXECUTE FUNCTION creditkit_purchase_revenue_aggregate();
--> statement-breakpoint
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
--> statement-breakpoint
-- Exact from the first commit: no ledger write may land between the sums below and the triggers above
-- (they commit together), so writers wait for this migration. Summing a large ledger takes longer than the
-- app's statement_timeout (src/db/connect.ts), which would fail the start: lifted for this transaction only.
SET LOCAL statement_timeout = 0;
--> statement-breakpoint
LOCK TABLE credit_account, credit_lot, credit_entry, credit_purchase IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
INSERT INTO credit_daily_total (day, entry_type, credits_in, credits_out, debt_change, entries)
SELECT (created_at AT TIME ZONE 'UTC')::date, type,
       sum(greatest(amount, 0)), sum(greatest(-amount, 0)), sum(debt_change), count(*)
FROM credit_entry GROUP BY 1, 2;
--> statement-breakpoint
INSERT INTO credit_outstanding (category, source, remaining)
SELECT category, source, sum(remaining) FROM credit_lot WHERE remaining <> 0 GROUP BY 1, 2;
--> statement-breakpoint
INSERT INTO credit_account_total (id, balance, held, debt)
SELECT 1, coalesce(sum(balance), 0), coalesce(sum(held), 0), coalesce(sum(debt), 0) FROM credit_account;
--> statement-breakpoint
INSERT INTO purchase_daily_revenue (day, kind, package_id, currency, purchases, amount, refunded)
SELECT (created_at AT TIME ZONE 'UTC')::date, kind, package_id, currency, count(*), sum(amount), sum(amount_refunded)
FROM credit_purchase WHERE status = 'succeeded' GROUP BY 1, 2, 3, 4;

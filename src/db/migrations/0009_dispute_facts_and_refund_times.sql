CREATE TABLE "credit_dispute" (
	"dispute_id" text PRIMARY KEY NOT NULL,
	"purchase_id" uuid NOT NULL,
	"amount" integer NOT NULL,
	"status" text NOT NULL,
	"event_type" text NOT NULL,
	"status_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_dispute_amount_non_negative" CHECK ("credit_dispute"."amount" >= 0)
);
--> statement-breakpoint
ALTER TABLE "credit_refund" ADD COLUMN "refund_created_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "credit_refund" ADD COLUMN "failed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "credit_dispute" ADD CONSTRAINT "credit_dispute_purchase_id_credit_purchase_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."credit_purchase"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "credit_dispute_purchase_idx" ON "credit_dispute" USING btree ("purchase_id");

--> statement-breakpoint
-- Disputes recorded before this migration kept one fact per purchase: it becomes that purchase's one
-- dispute, under a placeholder id that the purchase's next dispute event adopts (src/payment/record-dispute-facts.ts).
INSERT INTO credit_dispute (dispute_id, purchase_id, amount, status, event_type, status_at)
SELECT 'legacy:' || p.id, p.id, p.amount, p.dispute_status, p.dispute_event_type, p.dispute_event_at
FROM credit_purchase p
WHERE p.dispute_status IS NOT NULL AND p.dispute_event_type IS NOT NULL AND p.dispute_event_at IS NOT NULL;
--> statement-breakpoint
UPDATE credit_refund SET failed_at = status_at WHERE status IN ('failed', 'canceled');
--> statement-breakpoint
-- Migration 0009: a dispute reversal may carry an expiry that has passed (see below).
-- A grant in one statement (purchases, gifts, admin grants, dispute reversals): the user's row lock, the
-- idempotency check, expiry of due lots, the new lot, its ledger entry, and the repayment of any debt
-- (creditkit_repay_debt), in one round trip instead of about ten. Raises SQLSTATE CK409 when the
-- idempotency key was already used for a different grant, and CK400 when p_expires_at is not in the future
-- by the database's clock (such a grant would only write itself and its expiry; judged here, not by the
-- app server's clock, like every expiry).
CREATE OR REPLACE FUNCTION creditkit_add_credits(p_user text, p_amount bigint, p_type text, p_description text,
  p_key text, p_hash text, p_expires_at timestamptz, p_category text, p_reference text, p_purchase_id uuid,
  p_metadata jsonb, p_now timestamptz,
  OUT o_entry_id bigint, OUT o_lot_id uuid, OUT o_balance bigint, OUT o_replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_balance bigint;
  v_debt bigint;
  v_existing record;
  v_repaid bigint;
  v_repayment bigint;
BEGIN
  SELECT a.balance, a.debt INTO v_balance, v_debt FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO credit_account (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
    SELECT a.balance, a.debt INTO v_balance, v_debt FROM credit_account a WHERE a.user_id = p_user FOR UPDATE;
  END IF;

  SELECT e.id, e.request_hash, e.balance_after, e.metadata INTO v_existing
  FROM credit_entry e WHERE e.user_id = p_user AND e.idempotency_key = p_key;
  IF FOUND THEN
    IF v_existing.request_hash <> p_hash THEN
      RAISE EXCEPTION 'idempotency key reused with a different grant' USING ERRCODE = 'CK409';
    END IF;
    o_entry_id := v_existing.id;
    o_lot_id := (v_existing.metadata ->> 'lotId')::uuid;
    -- The first answer was the balance after the debt repayment, when there was one.
    SELECT e.balance_after INTO o_balance FROM credit_entry e
    WHERE e.user_id = p_user AND e.idempotency_key = p_key || ':debt-repayment';
    o_balance := coalesce(o_balance, v_existing.balance_after);
    o_replayed := true;
    RETURN;
  END IF;
  -- Credits given back after a won dispute keep the expiry of the purchase's own credits (they are the same
  -- credits coming back): when that time has passed, the lot is written and expires at once, below.
  IF p_expires_at <= v_now AND p_type <> 'dispute_reversal' THEN
    RAISE EXCEPTION 'the grant would expire before it is made' USING ERRCODE = 'CK400';
  END IF;

  SELECT x.o_balance INTO v_balance FROM creditkit_expire_due_lots(p_user, v_balance, v_now) x;

  INSERT INTO credit_lot (user_id, credits, remaining, expires_at, source, category, purchase_id, created_at)
  VALUES (p_user, p_amount, p_amount, p_expires_at, p_type, p_category, p_purchase_id, v_now)
  RETURNING id INTO o_lot_id;
  v_balance := v_balance + p_amount;
  INSERT INTO credit_entry (user_id, type, amount, balance_after, description, reference, idempotency_key,
                            request_hash, metadata, created_at)
  VALUES (p_user, p_type, p_amount, v_balance, p_description, p_reference, p_key, p_hash,
          coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('lotId', o_lot_id), v_now)
  RETURNING id INTO o_entry_id;
  UPDATE credit_lot SET grant_entry_id = o_entry_id WHERE id = o_lot_id;
  UPDATE credit_account SET balance = v_balance, updated_at = now() WHERE user_id = p_user;
  IF p_expires_at <= v_now THEN
    -- Already past its expiry (a dispute reversal only). The reversal undoes a clawback, so it first repays
    -- the debt that clawback may have left (the credits had been spent, which the merchant now keeps paid
    -- for); what is left expires at once, in an `expire` entry right after, so no later entry counts it.
    IF v_debt > 0 THEN
      v_repaid := least(v_debt, p_amount);
      v_balance := v_balance - v_repaid;
      INSERT INTO credit_entry (user_id, type, amount, debt_change, balance_after, description, idempotency_key,
                                request_hash, metadata, created_at)
      VALUES (p_user, 'debt_repayment', -v_repaid, -v_repaid, v_balance, 'Outstanding debt repaid',
              p_key || ':debt-repayment', p_hash || ':debt-repayment',
              jsonb_build_object('debtBefore', v_debt, 'cause', p_key), v_now)
      RETURNING id INTO v_repayment;
      INSERT INTO credit_allocation (entry_id, lot_id, amount) VALUES (v_repayment, o_lot_id, v_repaid);
      UPDATE credit_lot SET remaining = remaining - v_repaid WHERE id = o_lot_id;
      v_debt := v_debt - v_repaid;
      UPDATE credit_account SET balance = v_balance, debt = v_debt, updated_at = now() WHERE user_id = p_user;
    END IF;
    SELECT x.o_balance INTO v_balance FROM creditkit_expire_due_lots(p_user, v_balance, v_now) x;
  END IF;
  o_balance := v_balance;
  o_replayed := false;

  IF v_debt > 0 THEN
    SELECT r.o_balance INTO o_balance FROM creditkit_repay_debt(p_user, p_key, p_hash, v_now) r;
  END IF;
END $$;

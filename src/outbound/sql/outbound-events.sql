-- Outbound events written by the database itself, in the transaction of the change they describe (the
-- outbox pattern). The ledger has many entry points (the SQL functions of src/credits/sql, TypeScript use
-- cases, the service API, webhooks, jobs, the CLI): triggers on the ledger's tables see every one of them,
-- so no change can commit without its event, and a change that rolls back takes its event with it.
--
-- Cost when nobody listens: each trigger first asks creditkit_event_wanted (one look at the few rows of
-- webhook_endpoint) and returns; the event's JSON is built only when an enabled endpoint wants its type.
-- Events are fanned out to one webhook_delivery per endpoint here, at write time, so an endpoint added
-- later never receives events from before it existed, and one that is disabled later keeps its queue.
--
-- Installed on every migrate with the other functions (src/db/sql-functions.ts); CREATE OR REPLACE
-- TRIGGER keeps this file repeatable.

-- Whether any enabled endpoint wants events of this type.
CREATE OR REPLACE FUNCTION creditkit_event_wanted(p_type text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM webhook_endpoint WHERE enabled AND p_type = ANY (event_types))
$$;

-- The `account` part of every event, the one place that says who an event is about: the account id and,
-- for a customer made by another backend (PUT /api/v1/customers/{externalId}), its external id.
CREATE OR REPLACE FUNCTION creditkit_event_account(p_user text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  -- A customer's account carries the caller's external id (src/credits/upsert-customer.ts); a user's has none.
  SELECT jsonb_build_object('userId', p_user,
                            'externalId', (SELECT a.external_id FROM credit_account a WHERE a.user_id = p_user))
$$;

-- ISO 8601 in UTC with milliseconds, as JavaScript's Date#toISOString writes it.
CREATE OR REPLACE FUNCTION creditkit_event_time(p_at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Writes one event and its deliveries, when some enabled endpoint wants its type (otherwise nothing).
-- The id (`evt_` + 32 hex digits) is the Standard Webhooks `webhook-id` of every delivery of it, retries
-- and resends included, so a receiver can drop duplicates by it. Returns the id, or NULL when not written.
CREATE OR REPLACE FUNCTION creditkit_emit_event(p_type text, p_user text, p_data jsonb, p_at timestamptz)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_id text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
  v_at timestamptz := coalesce(p_at, now());
  v_seq bigint;
BEGIN
  IF NOT creditkit_event_wanted(p_type) THEN
    RETURN NULL;
  END IF;
  INSERT INTO outbound_event (id, type, user_id, payload, created_at)
  VALUES (v_id, p_type, p_user,
          jsonb_build_object('id', v_id, 'type', p_type, 'createdAt', creditkit_event_time(v_at),
                             'account', creditkit_event_account(p_user), 'data', p_data),
          v_at)
  RETURNING seq INTO v_seq;
  INSERT INTO webhook_delivery (endpoint_id, event_id, event_seq, user_id, next_attempt_at, give_up_at)
  SELECT e.id, v_id, v_seq, p_user, now(), now() + interval '3 days'
  FROM webhook_endpoint e WHERE e.enabled AND p_type = ANY (e.event_types);
  RETURN v_id;
END $$;

-- credits.granted / credits.consumed / credits.expired / credits.clawed_back, one per ledger entry.
-- A spend, a capture, a debt repayment and an admin's negative adjustment are all `credits.consumed`
-- (`entryType` says which); refunds and disputes are `credits.clawed_back`.
CREATE OR REPLACE FUNCTION creditkit_credit_entry_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_type text;
  v_data jsonb;
  v_lot record;
  v_purchase uuid;
BEGIN
  v_type := CASE
    WHEN NEW.type = 'expire' THEN 'credits.expired'
    WHEN NEW.type IN ('refund', 'dispute') THEN 'credits.clawed_back'
    WHEN NEW.amount > 0 THEN 'credits.granted'
    WHEN NEW.amount < 0 THEN 'credits.consumed'
  END;
  -- The check every spend pays when nobody listens, written inline (a plan plpgsql caches) rather than as a
  -- call of creditkit_event_wanted: the same question, one function call less on the hot path.
  IF v_type IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_endpoint WHERE enabled AND v_type = ANY (event_types)) THEN
    RETURN NULL;
  END IF;
  v_data := jsonb_build_object(
    'entryId', NEW.id::text, 'entryType', NEW.type, 'amount', abs(NEW.amount),
    'balanceAfter', NEW.balance_after, 'description', NEW.description, 'reference', NEW.reference,
    'idempotencyKey', NEW.idempotency_key, 'metadata', coalesce(NEW.metadata, '{}'::jsonb));
  IF v_type = 'credits.granted' THEN
    SELECT l.id, l.expires_at, l.category, l.purchase_id INTO v_lot
    FROM credit_lot l WHERE l.id = (NEW.metadata ->> 'lotId')::uuid;
    v_data := v_data || jsonb_build_object(
      'lotId', v_lot.id, 'category', v_lot.category, 'purchaseId', v_lot.purchase_id,
      'expiresAt', CASE WHEN v_lot.expires_at IS NULL THEN NULL ELSE creditkit_event_time(v_lot.expires_at) END);
  ELSIF v_type = 'credits.clawed_back' THEN
    -- The credits asked back, what was taken, and what could not be (added to the account's debt).
    SELECT p.id INTO v_purchase FROM credit_purchase p WHERE p.payment_intent_id = NEW.reference;
    v_data := v_data || jsonb_build_object('purchaseId', v_purchase, 'debtAdded', NEW.debt_change,
                                           'requested', abs(NEW.amount) + NEW.debt_change);
  ELSIF v_type = 'credits.consumed' AND NEW.type = 'debt_repayment' THEN
    v_data := v_data || jsonb_build_object('debtRepaid', -NEW.debt_change);
  END IF;
  PERFORM creditkit_emit_event(v_type, NEW.user_id, v_data, NEW.created_at);
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_entry_outbound_event AFTER INSERT ON credit_entry
FOR EACH ROW EXECUTE FUNCTION creditkit_credit_entry_event();

-- balance.low / balance.depleted / balance.recovered, decided from the account row's old and new
-- available balance (balance - held) and, for balance.low, the alert's mark. Every ledger change updates this row under its lock, so concurrent
-- spends see each other's results in turn and a crossing is seen by exactly one of them: once per crossing.
CREATE OR REPLACE FUNCTION creditkit_account_balance_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_before bigint := OLD.balance - OLD.held;
  v_after bigint := NEW.balance - NEW.held;
  v_types text[] := ARRAY[]::text[];
  v_type text;
  v_data jsonb;
BEGIN
  -- The low-balance alert's own decision (src/alerts/sql/low-balance-alerts.sql, a BEFORE trigger on this
  -- row): one rule for the email, the banner and the event, whether the threshold is credits or a percentage.
  -- A new mark, also one replacing a stale mark (see that file): distinct from the old one.
  IF NEW.low_balance_alerted_at IS NOT NULL
     AND NEW.low_balance_alerted_at IS DISTINCT FROM OLD.low_balance_alerted_at THEN
    v_types := v_types || 'balance.low'::text;
  END IF;
  IF v_before > 0 AND v_after <= 0 THEN
    v_types := v_types || 'balance.depleted'::text;
  ELSIF v_before <= 0 AND v_after > 0 THEN
    v_types := v_types || 'balance.recovered'::text;
  END IF;
  FOREACH v_type IN ARRAY v_types LOOP
    IF creditkit_event_wanted(v_type) THEN
      IF v_data IS NULL THEN
        v_data := jsonb_build_object(
          'available', v_after, 'availableBefore', v_before, 'balance', NEW.balance, 'held', NEW.held,
          'debt', NEW.debt,
          'lowBalanceThreshold', creditkit_low_balance_threshold(NEW.user_id, NEW.low_balance_threshold,
                                                                 NEW.low_balance_threshold_percent),
          -- The newest entry, when the change wrote one (a hold's reservation writes none).
          'lastEntryId', (SELECT max(e.id)::text FROM credit_entry e WHERE e.user_id = NEW.user_id));
      END IF;
      PERFORM creditkit_emit_event(v_type, NEW.user_id, v_data, now());
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_account_outbound_event AFTER UPDATE ON credit_account
FOR EACH ROW WHEN ((OLD.balance - OLD.held) IS DISTINCT FROM (NEW.balance - NEW.held))
EXECUTE FUNCTION creditkit_account_balance_event();

-- hold.expired: a hold closed because its time-to-live passed (by the sweep, or by the next operation
-- that met it), with what it returned.
CREATE OR REPLACE FUNCTION creditkit_hold_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'expired' AND OLD.status IS DISTINCT FROM 'expired' AND creditkit_event_wanted('hold.expired') THEN
    PERFORM creditkit_emit_event('hold.expired', NEW.user_id, jsonb_build_object(
      'holdId', NEW.id, 'amount', NEW.amount, 'expiredWithLots', NEW.expired_amount,
      'returned', NEW.amount - NEW.expired_amount, 'description', NEW.description,
      'idempotencyKey', NEW.idempotency_key, 'expiresAt', creditkit_event_time(NEW.expires_at),
      'balanceAfter', (SELECT a.balance FROM credit_account a WHERE a.user_id = NEW.user_id)), now());
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_hold_outbound_event AFTER UPDATE OF status ON credit_hold
FOR EACH ROW EXECUTE FUNCTION creditkit_hold_event();

-- purchase.succeeded (the payment went through), purchase.refunded (the refunded amount grew),
-- purchase.disputed (a dispute withdrew the funds). Amounts in the currency's minor units; the credits
-- themselves move in the credits.* events of the same transaction.
CREATE OR REPLACE FUNCTION creditkit_purchase_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_data jsonb;
  v_old_status text;
  v_old_refunded integer := 0;
  v_old_disputed boolean := false;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    v_old_status := OLD.status;
    v_old_refunded := OLD.amount_refunded;
    v_old_disputed := OLD.disputed;
  END IF;
  v_data := jsonb_build_object(
    'purchaseId', NEW.id, 'kind', NEW.kind, 'packageId', NEW.package_id, 'credits', NEW.credits,
    'amount', NEW.amount, 'currency', NEW.currency, 'amountRefunded', NEW.amount_refunded,
    'paymentIntentId', NEW.payment_intent_id, 'invoiceId', NEW.invoice_id, 'subscriptionId', NEW.subscription_id,
    'grantEntryId', NEW.grant_entry_id::text);
  IF NEW.status = 'succeeded' AND v_old_status IS DISTINCT FROM 'succeeded' THEN
    PERFORM creditkit_emit_event('purchase.succeeded', NEW.user_id, v_data, now());
  END IF;
  IF NEW.amount_refunded > v_old_refunded THEN
    PERFORM creditkit_emit_event('purchase.refunded', NEW.user_id,
      v_data || jsonb_build_object('refundedNow', NEW.amount_refunded - v_old_refunded), now());
  END IF;
  IF NEW.disputed AND NOT v_old_disputed THEN
    PERFORM creditkit_emit_event('purchase.disputed', NEW.user_id,
      v_data || jsonb_build_object('disputeStatus', NEW.dispute_status), now());
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER credit_purchase_outbound_event AFTER INSERT OR UPDATE ON credit_purchase
FOR EACH ROW EXECUTE FUNCTION creditkit_purchase_event();

-- subscription.started (first trialing or active state), subscription.canceled, and subscription.updated
-- for any other change of status, plan, scheduled plan or cancel-at-period-end.
CREATE OR REPLACE FUNCTION creditkit_subscription_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_type text;
BEGIN
  IF NEW.status IS NOT DISTINCT FROM OLD.status AND NEW.plan_id IS NOT DISTINCT FROM OLD.plan_id
     AND NEW.scheduled_plan_id IS NOT DISTINCT FROM OLD.scheduled_plan_id
     AND NEW.cancel_at_period_end IS NOT DISTINCT FROM OLD.cancel_at_period_end THEN
    RETURN NULL;
  END IF;
  v_type := CASE
    WHEN NEW.status = 'canceled' AND OLD.status <> 'canceled' THEN 'subscription.canceled'
    WHEN NEW.status IN ('trialing', 'active') AND OLD.status IN ('checkout', 'incomplete', 'abandoned')
      THEN 'subscription.started'
    WHEN NEW.status IN ('checkout', 'abandoned') THEN NULL
    ELSE 'subscription.updated'
  END;
  IF v_type IS NULL OR NOT creditkit_event_wanted(v_type) THEN
    RETURN NULL;
  END IF;
  PERFORM creditkit_emit_event(v_type, NEW.user_id, jsonb_build_object(
    'subscriptionId', NEW.id, 'status', NEW.status, 'previousStatus', OLD.status, 'planId', NEW.plan_id,
    'previousPlanId', OLD.plan_id, 'scheduledPlanId', NEW.scheduled_plan_id,
    'cancelAtPeriodEnd', NEW.cancel_at_period_end,
    'currentPeriodStart', CASE WHEN NEW.current_period_start IS NULL THEN NULL
                               ELSE creditkit_event_time(NEW.current_period_start) END,
    'currentPeriodEnd', CASE WHEN NEW.current_period_end IS NULL THEN NULL
                             ELSE creditkit_event_time(NEW.current_period_end) END,
    'providerSubscriptionId', NEW.provider_subscription_id), now());
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER subscription_outbound_event AFTER UPDATE ON subscription
FOR EACH ROW EXECUTE FUNCTION creditkit_subscription_event();

-- 1. Internal idempotency keys move into their own namespace (src/credits/idempotency-keys.ts): creditkit
-- writes keys starting with `creditkit/`, which no caller key can, so a caller's key can never take a key
-- creditkit needs (a spend keyed `payment_intent:pi_1` used to block that purchase's grant forever). Keys
-- written before this migration are renamed here, so a redelivered event or a retried request made before
-- the upgrade still finds its entry (a purchase credited before the upgrade is not credited again).
-- Each rename matches the key's old form together with what only creditkit wrote with it (the entry type,
-- the reference, the API key that exists), so an integrator's own key of a similar shape is left alone.

-- Purchase grants: `payment_intent:<id>`, type purchase, reference = the PaymentIntent id.
UPDATE credit_entry SET idempotency_key = 'creditkit/' || idempotency_key
WHERE type = 'purchase' AND reference IS NOT NULL AND idempotency_key = 'payment_intent:' || reference;
--> statement-breakpoint
-- Clawbacks and reinstatements, keyed by their state change `clawback:<purchase>:<from>-><to>`.
UPDATE credit_entry SET idempotency_key = 'creditkit/' || idempotency_key
WHERE type IN ('refund', 'dispute') AND idempotency_key LIKE 'clawback:%->%';
--> statement-breakpoint
UPDATE credit_entry SET idempotency_key = 'creditkit/' || idempotency_key
WHERE type = 'dispute_reversal' AND idempotency_key LIKE 'reinstate:%->%';
--> statement-breakpoint
-- Hold captures: `hold-capture:<hold id>`, reference = the hold id.
UPDATE credit_entry SET idempotency_key = 'creditkit/' || idempotency_key
WHERE type = 'consume' AND reference IS NOT NULL AND idempotency_key = 'hold-capture:' || reference;
--> statement-breakpoint
-- The signup gift.
UPDATE credit_entry SET idempotency_key = 'creditkit/' || idempotency_key
WHERE type = 'signup_gift' AND idempotency_key = 'signup-gift';
--> statement-breakpoint
-- Operators' grants and deductions from the admin console (they record the actor) and the CLI.
UPDATE credit_entry SET idempotency_key = 'creditkit/' || idempotency_key
WHERE type IN ('grant', 'adjustment') AND idempotency_key LIKE 'admin:%' AND metadata ? 'actor';
--> statement-breakpoint
UPDATE credit_entry SET idempotency_key = 'creditkit/' || idempotency_key
WHERE type = 'adjustment' AND idempotency_key LIKE 'cli-grant:%';
--> statement-breakpoint
-- Service-API ledger keys: `api:<API key id>:<Idempotency-Key>`, for an API key that exists.
UPDATE credit_entry e SET idempotency_key = 'creditkit/' || e.idempotency_key
WHERE e.idempotency_key LIKE 'api:%'
  AND EXISTS (SELECT 1 FROM api_key k WHERE k.id::text = split_part(e.idempotency_key, ':', 2));
--> statement-breakpoint
UPDATE credit_hold h SET idempotency_key = 'creditkit/' || h.idempotency_key
WHERE h.idempotency_key LIKE 'api:%'
  AND EXISTS (SELECT 1 FROM api_key k WHERE k.id::text = split_part(h.idempotency_key, ':', 2));
--> statement-breakpoint
-- Holds of the metered demo feature: `feature:<feature id>:<request id>`.
UPDATE credit_hold SET idempotency_key = 'creditkit/' || idempotency_key
WHERE idempotency_key LIKE 'feature:image.generate:%';
--> statement-breakpoint
-- Debt repayments are keyed `<grant key>:debt-repayment` by creditkit_add_credits: they follow their grant.
UPDATE credit_entry e SET idempotency_key = 'creditkit/' || e.idempotency_key
WHERE e.type = 'debt_repayment' AND e.idempotency_key LIKE '%:debt-repayment'
  AND EXISTS (SELECT 1 FROM credit_entry g
              WHERE g.user_id = e.user_id AND g.type <> 'debt_repayment'
                AND g.idempotency_key = 'creditkit/' || left(e.idempotency_key, length(e.idempotency_key) - 15));
--> statement-breakpoint

-- 2. Purchases record the facts their clawback is decided from (migration 0005): the charge's refunded
-- amount with its event time, and the newest dispute status. Purchases refunded or disputed before get
-- those facts from what was recorded then, timed at the purchase's last change, so an older event
-- delivered late does not override them.
UPDATE credit_purchase SET charge_amount_refunded = amount_refunded, charge_refunded_at = updated_at
WHERE amount_refunded > 0;
--> statement-breakpoint
UPDATE credit_purchase
SET dispute_status = 'needs_response', dispute_event_type = 'charge.dispute.funds_withdrawn', dispute_event_at = updated_at
WHERE disputed;
--> statement-breakpoint
UPDATE credit_purchase p
SET dispute_status = 'won', dispute_event_type = 'charge.dispute.closed', dispute_event_at = p.updated_at
WHERE NOT p.disputed AND p.payment_intent_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM credit_entry e
              WHERE e.user_id = p.user_id AND e.reference = p.payment_intent_id AND e.type = 'dispute_reversal');
--> statement-breakpoint
UPDATE credit_purchase p
SET clawback_sequence = (SELECT count(*) FROM credit_entry e
                         WHERE e.user_id = p.user_id AND e.reference = p.payment_intent_id
                           AND e.type IN ('refund', 'dispute', 'dispute_reversal'))
WHERE p.payment_intent_id IS NOT NULL;

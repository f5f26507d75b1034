ALTER TABLE "credit_purchase" DROP CONSTRAINT "credit_purchase_credits_positive";--> statement-breakpoint
ALTER TABLE "subscription_period_grant" DROP CONSTRAINT "subscription_period_grant_late_expiry";--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_credits_positive" CHECK ("credit_purchase"."credits" > 0 OR ("credit_purchase"."kind" = 'subscription_invoice' AND "credit_purchase"."credits" >= 0));--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD CONSTRAINT "subscription_period_grant_late_expiry" CHECK ("subscription_period_grant"."lot_expires_at" IS NULL OR ("subscription_period_grant"."kind" IN ('period', 'slot') AND "subscription_period_grant"."lot_expires_at" > "subscription_period_grant"."period_end"));--> statement-breakpoint
-- Invoice purchases recorded with a placeholder figure (a refund or dispute that came before the
-- invoice.paid wrote the plan's monthly credits; an invoice that then granted nothing kept it): nothing of
-- them was issued or taken back and no grant row entitles them to credits, so their true figure is 0.
UPDATE "credit_purchase" p SET "credits" = 0
WHERE p."kind" = 'subscription_invoice' AND p."credits" > 0
  AND coalesce(p."credits_issued", p."credits") = 0 AND p."clawed_back_credits" = 0
  AND NOT EXISTS (
    SELECT 1 FROM "subscription_period_grant" g
    WHERE g."invoice_id" = p."invoice_id" AND g."status" IN ('granted', 'scheduled') AND g."credits" > 0);

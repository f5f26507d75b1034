ALTER TABLE "credit_entry" DROP CONSTRAINT "credit_entry_amount_non_zero";--> statement-breakpoint
ALTER TABLE "credit_entry" ADD COLUMN "debt_change" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "amount_refunded" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "disputed" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "clawed_back_credits" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_entry" ADD CONSTRAINT "credit_entry_changes_something" CHECK ("credit_entry"."amount" <> 0 OR "credit_entry"."debt_change" <> 0);--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_refund_in_range" CHECK ("credit_purchase"."amount_refunded" >= 0 AND "credit_purchase"."amount_refunded" <= "credit_purchase"."amount");--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_clawback_in_range" CHECK ("credit_purchase"."clawed_back_credits" >= 0 AND "credit_purchase"."clawed_back_credits" <= "credit_purchase"."credits");
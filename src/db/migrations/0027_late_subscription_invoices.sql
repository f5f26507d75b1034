CREATE TABLE "subscription_rollover_share" (
	"subscription_id" uuid NOT NULL,
	"into_start" timestamp with time zone NOT NULL,
	"purchase_id" uuid NOT NULL,
	"lot_id" uuid NOT NULL,
	"credits" integer NOT NULL,
	CONSTRAINT "subscription_rollover_share_subscription_id_into_start_purchase_id_pk" PRIMARY KEY("subscription_id","into_start","purchase_id"),
	CONSTRAINT "subscription_rollover_share_credits_positive" CHECK ("subscription_rollover_share"."credits" > 0)
);
--> statement-breakpoint
ALTER TABLE "credit_purchase" DROP CONSTRAINT "credit_purchase_status_known";--> statement-breakpoint
ALTER TABLE "refund_request" ADD COLUMN "sends_amount" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD COLUMN "lot_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "subscription_rollover_share" ADD CONSTRAINT "subscription_rollover_share_purchase_id_credit_purchase_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."credit_purchase"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "subscription_rollover_share_purchase_idx" ON "subscription_rollover_share" USING btree ("purchase_id");--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_status_known" CHECK ("credit_purchase"."status" IN ('pending', 'succeeded', 'failed', 'canceled', 'requires_review', 'abandoned', 'invoice_unpaid'));--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD CONSTRAINT "subscription_period_grant_late_expiry" CHECK ("subscription_period_grant"."lot_expires_at" IS NULL OR ("subscription_period_grant"."kind" = 'period' AND "subscription_period_grant"."lot_expires_at" > "subscription_period_grant"."period_end"));
CREATE TABLE "free_plan_grant" (
	"user_id" text NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"credits" integer NOT NULL,
	"entry_id" bigint,
	"lot_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "free_plan_grant_user_id_period_start_pk" PRIMARY KEY("user_id","period_start"),
	CONSTRAINT "free_plan_grant_credits_positive" CHECK ("free_plan_grant"."credits" > 0),
	CONSTRAINT "free_plan_grant_period_ordered" CHECK ("free_plan_grant"."period_start" < "free_plan_grant"."period_end")
);
--> statement-breakpoint
ALTER TABLE "subscription_period_grant" DROP CONSTRAINT "subscription_period_grant_kind_known";--> statement-breakpoint
ALTER TABLE "subscription_period_grant" DROP CONSTRAINT "subscription_period_grant_status_known";--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "kind" text DEFAULT 'package' NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "subscription_id" uuid;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "invoice_id" text;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "credits_issued" integer;--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD COLUMN "slot_index" integer;--> statement-breakpoint
ALTER TABLE "free_plan_grant" ADD CONSTRAINT "free_plan_grant_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "free_plan_grant_user_end_idx" ON "free_plan_grant" USING btree ("user_id","period_end");--> statement-breakpoint
CREATE INDEX "subscription_period_grant_scheduled_idx" ON "subscription_period_grant" USING btree ("period_start") WHERE "subscription_period_grant"."status" = 'scheduled';--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_invoiceId_unique" UNIQUE("invoice_id");--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_kind_known" CHECK ("credit_purchase"."kind" IN ('package', 'subscription_invoice'));--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_credits_issued_in_range" CHECK ("credit_purchase"."credits_issued" IS NULL OR ("credit_purchase"."credits_issued" >= 0 AND "credit_purchase"."credits_issued" <= "credit_purchase"."credits"));--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD CONSTRAINT "subscription_period_grant_kind_known" CHECK ("subscription_period_grant"."kind" IN ('period', 'slot', 'proration', 'trial'));--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD CONSTRAINT "subscription_period_grant_status_known" CHECK ("subscription_period_grant"."status" IN ('granted', 'period_over', 'scheduled', 'stopped'));
CREATE TABLE "email_outbox" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"kind" text NOT NULL,
	"locale" text DEFAULT 'en' NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"leased_until" timestamp with time zone,
	"give_up_at" timestamp with time zone DEFAULT now() + interval '1 day' NOT NULL,
	"last_error" text,
	"message_id" text,
	"sent_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "email_outbox_status_known" CHECK ("email_outbox"."status" IN ('pending', 'sent', 'logged', 'skipped', 'failed')),
	CONSTRAINT "email_outbox_kind_known" CHECK ("email_outbox"."kind" IN ('low_balance'))
);
--> statement-breakpoint
CREATE TABLE "plan_allocation" (
	"plan_id" text PRIMARY KEY NOT NULL,
	"credits_per_month" integer NOT NULL,
	"is_free" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "plan_allocation_credits_positive" CHECK ("plan_allocation"."credits_per_month" > 0)
);
--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "low_balance_threshold_percent" integer;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "low_balance_alerted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "alert_locale" text;--> statement-breakpoint
ALTER TABLE "email_outbox" ADD CONSTRAINT "email_outbox_user_id_credit_account_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."credit_account"("user_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "email_outbox_due_idx" ON "email_outbox" USING btree ("next_attempt_at") WHERE "email_outbox"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "email_outbox_user_idx" ON "email_outbox" USING btree ("user_id","created_at");--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_low_balance_percent_in_range" CHECK ("credit_account"."low_balance_threshold_percent" IS NULL OR "credit_account"."low_balance_threshold_percent" BETWEEN 1 AND 100);--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_low_balance_one_threshold" CHECK ("credit_account"."low_balance_threshold" IS NULL OR "credit_account"."low_balance_threshold_percent" IS NULL);--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_alert_locale_known" CHECK ("credit_account"."alert_locale" IS NULL OR "credit_account"."alert_locale" IN ('en', 'zh'));
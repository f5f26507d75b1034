CREATE TABLE "auto_top_up" (
	"user_id" text PRIMARY KEY NOT NULL,
	"enabled" boolean DEFAULT false NOT NULL,
	"package_id" text NOT NULL,
	"package_amount" integer NOT NULL,
	"currency" text NOT NULL,
	"threshold_credits" integer NOT NULL,
	"monthly_cap_amount" integer NOT NULL,
	"payment_method_id" text,
	"setup_intent_id" text,
	"card_brand" text,
	"card_last4" text,
	"card_set_up_at" timestamp with time zone,
	"locale" text DEFAULT 'en' NOT NULL,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"disabled_reason" text,
	"cap_reached_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "auto_top_up_threshold_positive" CHECK ("auto_top_up"."threshold_credits" >= 1),
	CONSTRAINT "auto_top_up_cap_covers_package" CHECK ("auto_top_up"."monthly_cap_amount" >= "auto_top_up"."package_amount"),
	CONSTRAINT "auto_top_up_package_amount_positive" CHECK ("auto_top_up"."package_amount" > 0),
	CONSTRAINT "auto_top_up_failures_non_negative" CHECK ("auto_top_up"."consecutive_failures" >= 0),
	CONSTRAINT "auto_top_up_enabled_has_card" CHECK (NOT "auto_top_up"."enabled" OR "auto_top_up"."payment_method_id" IS NOT NULL),
	CONSTRAINT "auto_top_up_locale_known" CHECK ("auto_top_up"."locale" IN ('en', 'zh'))
);
--> statement-breakpoint
CREATE TABLE "auto_top_up_attempt" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"package_id" text NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"available_at_start" integer,
	"purchase_id" uuid,
	"payment_intent_id" text,
	"client_secret" text,
	"tries" integer DEFAULT 0 NOT NULL,
	"next_try_at" timestamp with time zone DEFAULT now() NOT NULL,
	"leased_until" timestamp with time zone,
	"failure_code" text,
	"failure_message" text,
	"detail" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "auto_top_up_attempt_status_known" CHECK ("auto_top_up_attempt"."status" IN ('pending', 'processing', 'requires_action', 'succeeded', 'failed', 'canceled')),
	CONSTRAINT "auto_top_up_attempt_amount_positive" CHECK ("auto_top_up_attempt"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "sandbox_setup_intent" (
	"id" text PRIMARY KEY NOT NULL,
	"client_secret" text NOT NULL,
	"user_id" text NOT NULL,
	"customer_id" text NOT NULL,
	"status" text NOT NULL,
	"payment_method_id" text,
	"card_behavior" text,
	"card_last4" text,
	"last_error" jsonb,
	"idempotency_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sandbox_setup_intent_paymentMethodId_unique" UNIQUE("payment_method_id"),
	CONSTRAINT "sandbox_setup_intent_idempotencyKey_unique" UNIQUE("idempotency_key")
);
--> statement-breakpoint
ALTER TABLE "email_outbox" DROP CONSTRAINT "email_outbox_kind_known";--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "auto_top_up_threshold" bigint;--> statement-breakpoint
ALTER TABLE "auto_top_up" ADD CONSTRAINT "auto_top_up_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auto_top_up_attempt" ADD CONSTRAINT "auto_top_up_attempt_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "auto_top_up_attempt_one_in_flight" ON "auto_top_up_attempt" USING btree ("user_id") WHERE "auto_top_up_attempt"."status" IN ('pending', 'processing', 'requires_action');--> statement-breakpoint
CREATE INDEX "auto_top_up_attempt_user_idx" ON "auto_top_up_attempt" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "auto_top_up_attempt_due_idx" ON "auto_top_up_attempt" USING btree ("next_try_at") WHERE "auto_top_up_attempt"."status" IN ('pending', 'processing');--> statement-breakpoint
CREATE UNIQUE INDEX "auto_top_up_attempt_payment_intent_idx" ON "auto_top_up_attempt" USING btree ("payment_intent_id");--> statement-breakpoint
CREATE INDEX "sandbox_setup_intent_user_idx" ON "sandbox_setup_intent" USING btree ("user_id");--> statement-breakpoint
ALTER TABLE "email_outbox" ADD CONSTRAINT "email_outbox_kind_known" CHECK ("email_outbox"."kind" IN ('low_balance', 'auto_top_up_action_required', 'auto_top_up_failed'));--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_auto_top_up_threshold_positive" CHECK ("credit_account"."auto_top_up_threshold" IS NULL OR "credit_account"."auto_top_up_threshold" > 0);
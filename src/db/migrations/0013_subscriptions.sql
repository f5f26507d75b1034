CREATE TABLE "sandbox_invoice" (
	"id" text PRIMARY KEY NOT NULL,
	"subscription_id" text NOT NULL,
	"customer_id" text NOT NULL,
	"billing_reason" text NOT NULL,
	"status" text NOT NULL,
	"currency" text NOT NULL,
	"amount_due" integer NOT NULL,
	"amount_paid" integer DEFAULT 0 NOT NULL,
	"lines" jsonb NOT NULL,
	"payment_intent_id" text,
	"attempt_count" integer DEFAULT 0 NOT NULL,
	"created" bigint NOT NULL,
	"finalized_at" timestamp with time zone,
	"paid_at" timestamp with time zone,
	CONSTRAINT "sandbox_invoice_status_known" CHECK ("sandbox_invoice"."status" IN ('draft', 'open', 'paid', 'uncollectible', 'void'))
);
--> statement-breakpoint
CREATE TABLE "sandbox_subscription" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"customer_id" text NOT NULL,
	"subscription_row_id" uuid NOT NULL,
	"plan_id" text NOT NULL,
	"price_id" text NOT NULL,
	"status" text NOT NULL,
	"billing_cycle_anchor" timestamp with time zone NOT NULL,
	"current_period_start" timestamp with time zone NOT NULL,
	"current_period_end" timestamp with time zone NOT NULL,
	"clock" timestamp with time zone NOT NULL,
	"card_behavior" text,
	"card_last4" text,
	"cancel_at_period_end" boolean DEFAULT false NOT NULL,
	"canceled_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"pending_plan_id" text,
	"credit_balance" integer DEFAULT 0 NOT NULL,
	"latest_invoice_id" text,
	"metadata" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sandbox_subscription_subscriptionRowId_unique" UNIQUE("subscription_row_id")
);
--> statement-breakpoint
CREATE TABLE "payment_customer" (
	"user_id" text NOT NULL,
	"provider" text NOT NULL,
	"customer_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payment_customer_user_id_provider_pk" PRIMARY KEY("user_id","provider"),
	CONSTRAINT "payment_customer_customerId_unique" UNIQUE("customer_id")
);
--> statement-breakpoint
CREATE TABLE "plan_price" (
	"price_id" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"plan_id" text NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"interval" text NOT NULL,
	"lookup_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "plan_price_interval_known" CHECK ("plan_price"."interval" IN ('month', 'year'))
);
--> statement-breakpoint
CREATE TABLE "subscription" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"provider" text NOT NULL,
	"provider_subscription_id" text,
	"customer_id" text,
	"checkout_session_id" text,
	"plan_id" text NOT NULL,
	"status" text DEFAULT 'checkout' NOT NULL,
	"current_period_start" timestamp with time zone,
	"current_period_end" timestamp with time zone,
	"billing_cycle_anchor" timestamp with time zone,
	"cancel_at_period_end" boolean DEFAULT false NOT NULL,
	"cancel_at" timestamp with time zone,
	"canceled_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"scheduled_plan_id" text,
	"trial_offered_days" integer,
	"payment_problem" text,
	"payment_problem_invoice_id" text,
	"payment_problem_at" timestamp with time zone,
	"payment_action_url" text,
	"flagged_reason" text,
	"state_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "subscription_providerSubscriptionId_unique" UNIQUE("provider_subscription_id"),
	CONSTRAINT "subscription_checkoutSessionId_unique" UNIQUE("checkout_session_id"),
	CONSTRAINT "subscription_status_known" CHECK ("subscription"."status" IN ('checkout', 'abandoned', 'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid', 'paused', 'canceled')),
	CONSTRAINT "subscription_payment_problem_known" CHECK ("subscription"."payment_problem" IS NULL OR "subscription"."payment_problem" IN ('payment_failed', 'action_required'))
);
--> statement-breakpoint
CREATE TABLE "subscription_period_grant" (
	"invoice_id" text NOT NULL,
	"kind" text NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"subscription_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"purchase_id" uuid,
	"plan_id" text NOT NULL,
	"credits" integer NOT NULL,
	"status" text NOT NULL,
	"entry_id" bigint,
	"lot_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "subscription_period_grant_invoice_id_kind_period_start_pk" PRIMARY KEY("invoice_id","kind","period_start"),
	CONSTRAINT "subscription_period_grant_kind_known" CHECK ("subscription_period_grant"."kind" IN ('period', 'proration', 'trial')),
	CONSTRAINT "subscription_period_grant_status_known" CHECK ("subscription_period_grant"."status" IN ('granted', 'period_over')),
	CONSTRAINT "subscription_period_grant_credits_non_negative" CHECK ("subscription_period_grant"."credits" >= 0),
	CONSTRAINT "subscription_period_grant_period_ordered" CHECK ("subscription_period_grant"."period_start" < "subscription_period_grant"."period_end")
);
--> statement-breakpoint
ALTER TABLE "sandbox_event_outbox" ALTER COLUMN "payment_intent_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "sandbox_payment_intent" ADD COLUMN "invoice_id" text;--> statement-breakpoint
ALTER TABLE "sandbox_event_outbox" ADD COLUMN "subscription_id" text;--> statement-breakpoint
ALTER TABLE "payment_customer" ADD CONSTRAINT "payment_customer_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscription" ADD CONSTRAINT "subscription_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD CONSTRAINT "subscription_period_grant_subscription_id_subscription_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscription"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscription_period_grant" ADD CONSTRAINT "subscription_period_grant_purchase_id_credit_purchase_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."credit_purchase"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "sandbox_invoice_subscription_idx" ON "sandbox_invoice" USING btree ("subscription_id");--> statement-breakpoint
CREATE INDEX "sandbox_subscription_user_idx" ON "sandbox_subscription" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "plan_price_lookup_key" ON "plan_price" USING btree ("provider","lookup_key");--> statement-breakpoint
CREATE INDEX "subscription_user_idx" ON "subscription" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "subscription_user_live_idx" ON "subscription" USING btree ("user_id") WHERE "subscription"."status" IN ('checkout', 'incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused');--> statement-breakpoint
CREATE INDEX "subscription_period_grant_subscription_idx" ON "subscription_period_grant" USING btree ("subscription_id","period_end");--> statement-breakpoint
CREATE INDEX "sandbox_event_outbox_subscription_idx" ON "sandbox_event_outbox" USING btree ("subscription_id");
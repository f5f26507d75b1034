CREATE TABLE "account" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"provider_id" text NOT NULL,
	"user_id" text NOT NULL,
	"access_token" text,
	"refresh_token" text,
	"id_token" text,
	"access_token_expires_at" timestamp with time zone,
	"refresh_token_expires_at" timestamp with time zone,
	"scope" text,
	"password" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "session" (
	"id" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"token" text NOT NULL,
	"ip_address" text,
	"user_agent" text,
	"user_id" text NOT NULL,
	"impersonated_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "session_token_unique" UNIQUE("token")
);
--> statement-breakpoint
CREATE TABLE "user" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"email" text NOT NULL,
	"email_verified" boolean DEFAULT false NOT NULL,
	"image" text,
	"role" text DEFAULT 'user' NOT NULL,
	"banned" boolean DEFAULT false,
	"ban_reason" text,
	"ban_expires" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "user_email_unique" UNIQUE("email")
);
--> statement-breakpoint
CREATE TABLE "verification" (
	"id" text PRIMARY KEY NOT NULL,
	"identifier" text NOT NULL,
	"value" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_account" (
	"user_id" text PRIMARY KEY NOT NULL,
	"balance" bigint DEFAULT 0 NOT NULL,
	"held" bigint DEFAULT 0 NOT NULL,
	"debt" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_account_balance_non_negative" CHECK ("credit_account"."balance" >= 0),
	CONSTRAINT "credit_account_held_within_balance" CHECK ("credit_account"."held" >= 0 AND "credit_account"."held" <= "credit_account"."balance"),
	CONSTRAINT "credit_account_debt_non_negative" CHECK ("credit_account"."debt" >= 0)
);
--> statement-breakpoint
CREATE TABLE "credit_allocation" (
	"entry_id" bigint NOT NULL,
	"lot_id" uuid NOT NULL,
	"amount" bigint NOT NULL,
	CONSTRAINT "credit_allocation_entry_id_lot_id_pk" PRIMARY KEY("entry_id","lot_id"),
	CONSTRAINT "credit_allocation_amount_positive" CHECK ("credit_allocation"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "credit_entry" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "credit_entry_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_id" text NOT NULL,
	"type" text NOT NULL,
	"amount" bigint NOT NULL,
	"balance_after" bigint NOT NULL,
	"debt_change" bigint DEFAULT 0 NOT NULL,
	"description" text NOT NULL,
	"reference" text,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"metadata" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_entry_changes_something" CHECK ("credit_entry"."amount" <> 0 OR "credit_entry"."debt_change" <> 0),
	CONSTRAINT "credit_entry_balance_after_non_negative" CHECK ("credit_entry"."balance_after" >= 0)
);
--> statement-breakpoint
CREATE TABLE "credit_lot" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"credits" bigint NOT NULL,
	"remaining" bigint NOT NULL,
	"spendable" boolean GENERATED ALWAYS AS (remaining > 0) STORED,
	"expires_at" timestamp with time zone,
	"source" text NOT NULL,
	"category" text NOT NULL,
	"grant_entry_id" bigint,
	"purchase_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_lot_credits_positive" CHECK ("credit_lot"."credits" > 0),
	CONSTRAINT "credit_lot_remaining_in_range" CHECK ("credit_lot"."remaining" >= 0 AND "credit_lot"."remaining" <= "credit_lot"."credits"),
	CONSTRAINT "credit_lot_category_known" CHECK ("credit_lot"."category" IN ('paid', 'promotional'))
);
--> statement-breakpoint
CREATE TABLE "credit_purchase" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"package_id" text NOT NULL,
	"credits" integer NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"expire_days" integer,
	"provider" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"payment_intent_id" text,
	"grant_entry_id" bigint,
	"amount_refunded" integer DEFAULT 0 NOT NULL,
	"disputed" boolean DEFAULT false NOT NULL,
	"clawed_back_credits" integer DEFAULT 0 NOT NULL,
	"failure_code" text,
	"failure_message" text,
	"flagged_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_purchase_paymentIntentId_unique" UNIQUE("payment_intent_id"),
	CONSTRAINT "credit_purchase_credits_positive" CHECK ("credit_purchase"."credits" > 0),
	CONSTRAINT "credit_purchase_amount_positive" CHECK ("credit_purchase"."amount" > 0),
	CONSTRAINT "credit_purchase_refund_in_range" CHECK ("credit_purchase"."amount_refunded" >= 0 AND "credit_purchase"."amount_refunded" <= "credit_purchase"."amount"),
	CONSTRAINT "credit_purchase_clawback_in_range" CHECK ("credit_purchase"."clawed_back_credits" >= 0 AND "credit_purchase"."clawed_back_credits" <= "credit_purchase"."credits"),
	CONSTRAINT "credit_purchase_status_known" CHECK ("credit_purchase"."status" IN ('pending', 'succeeded', 'failed', 'canceled', 'requires_review'))
);
--> statement-breakpoint
CREATE TABLE "sandbox_payment_intent" (
	"id" text PRIMARY KEY NOT NULL,
	"client_secret" text NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"status" text NOT NULL,
	"metadata" jsonb NOT NULL,
	"idempotency_key" text NOT NULL,
	"amount_refunded" integer DEFAULT 0 NOT NULL,
	"last_error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sandbox_payment_intent_idempotencyKey_unique" UNIQUE("idempotency_key")
);
--> statement-breakpoint
CREATE TABLE "webhook_event" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"outcome" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_hold" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"captured_amount" bigint,
	"status" text DEFAULT 'open' NOT NULL,
	"description" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"capture_entry_id" bigint,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"closed_at" timestamp with time zone,
	CONSTRAINT "credit_hold_amount_positive" CHECK ("credit_hold"."amount" > 0),
	CONSTRAINT "credit_hold_captured_in_range" CHECK ("credit_hold"."captured_amount" IS NULL OR ("credit_hold"."captured_amount" >= 0 AND "credit_hold"."captured_amount" <= "credit_hold"."amount")),
	CONSTRAINT "credit_hold_status_known" CHECK ("credit_hold"."status" IN ('open', 'captured', 'released', 'expired'))
);
--> statement-breakpoint
CREATE TABLE "credit_hold_allocation" (
	"hold_id" uuid NOT NULL,
	"lot_id" uuid NOT NULL,
	"amount" bigint NOT NULL,
	"position" bigint NOT NULL,
	CONSTRAINT "credit_hold_allocation_hold_id_lot_id_pk" PRIMARY KEY("hold_id","lot_id"),
	CONSTRAINT "credit_hold_allocation_amount_positive" CHECK ("credit_hold_allocation"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "api_idempotency" (
	"api_key_id" uuid NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"response_status" integer NOT NULL,
	"response_body" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "api_idempotency_api_key_id_idempotency_key_pk" PRIMARY KEY("api_key_id","idempotency_key")
);
--> statement-breakpoint
CREATE TABLE "api_key" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"prefix" text NOT NULL,
	"key_hash" text NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_key_keyHash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"actor_user_id" text,
	"actor_label" text NOT NULL,
	"action" text NOT NULL,
	"target_user_id" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "signup_gift_claim" (
	"email_hash" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"claimed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "account" ADD CONSTRAINT "account_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "session" ADD CONSTRAINT "session_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_allocation" ADD CONSTRAINT "credit_allocation_entry_id_credit_entry_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."credit_entry"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_allocation" ADD CONSTRAINT "credit_allocation_lot_id_credit_lot_id_fk" FOREIGN KEY ("lot_id") REFERENCES "public"."credit_lot"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_entry" ADD CONSTRAINT "credit_entry_user_id_credit_account_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."credit_account"("user_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_lot" ADD CONSTRAINT "credit_lot_user_id_credit_account_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."credit_account"("user_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold" ADD CONSTRAINT "credit_hold_user_id_credit_account_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."credit_account"("user_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold" ADD CONSTRAINT "credit_hold_capture_entry_id_credit_entry_id_fk" FOREIGN KEY ("capture_entry_id") REFERENCES "public"."credit_entry"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold_allocation" ADD CONSTRAINT "credit_hold_allocation_hold_id_credit_hold_id_fk" FOREIGN KEY ("hold_id") REFERENCES "public"."credit_hold"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold_allocation" ADD CONSTRAINT "credit_hold_allocation_lot_id_credit_lot_id_fk" FOREIGN KEY ("lot_id") REFERENCES "public"."credit_lot"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_idempotency" ADD CONSTRAINT "api_idempotency_api_key_id_api_key_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_key"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "account_user_id_idx" ON "account" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "session_user_id_idx" ON "session" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "verification_identifier_idx" ON "verification" USING btree ("identifier");--> statement-breakpoint
CREATE INDEX "credit_allocation_lot_idx" ON "credit_allocation" USING btree ("lot_id");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_entry_user_idempotency_key" ON "credit_entry" USING btree ("user_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "credit_entry_user_history_idx" ON "credit_entry" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "credit_lot_spendable_idx" ON "credit_lot" USING btree ("user_id","expires_at","created_at") WHERE "credit_lot"."spendable";--> statement-breakpoint
CREATE INDEX "credit_lot_purchase_idx" ON "credit_lot" USING btree ("purchase_id");--> statement-breakpoint
CREATE INDEX "credit_lot_due_idx" ON "credit_lot" USING btree ("expires_at") WHERE "credit_lot"."spendable" AND "credit_lot"."expires_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "credit_purchase_user_idx" ON "credit_purchase" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_hold_user_idempotency_key" ON "credit_hold" USING btree ("user_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "credit_hold_open_expiry_idx" ON "credit_hold" USING btree ("expires_at") WHERE "credit_hold"."status" = 'open';--> statement-breakpoint
CREATE INDEX "api_key_active_idx" ON "api_key" USING btree ("key_hash") WHERE "api_key"."revoked_at" IS NULL;--> statement-breakpoint
CREATE INDEX "audit_log_created_idx" ON "audit_log" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "audit_log_target_idx" ON "audit_log" USING btree ("target_user_id");
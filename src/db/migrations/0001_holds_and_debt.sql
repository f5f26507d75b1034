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
ALTER TABLE "credit_account" ADD COLUMN "held" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "debt" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_hold" ADD CONSTRAINT "credit_hold_user_id_credit_account_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."credit_account"("user_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold" ADD CONSTRAINT "credit_hold_capture_entry_id_credit_entry_id_fk" FOREIGN KEY ("capture_entry_id") REFERENCES "public"."credit_entry"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold_allocation" ADD CONSTRAINT "credit_hold_allocation_hold_id_credit_hold_id_fk" FOREIGN KEY ("hold_id") REFERENCES "public"."credit_hold"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold_allocation" ADD CONSTRAINT "credit_hold_allocation_lot_id_credit_lot_id_fk" FOREIGN KEY ("lot_id") REFERENCES "public"."credit_lot"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "credit_hold_user_idempotency_key" ON "credit_hold" USING btree ("user_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "credit_hold_open_expiry_idx" ON "credit_hold" USING btree ("expires_at") WHERE "credit_hold"."status" = 'open';--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_held_within_balance" CHECK ("credit_account"."held" >= 0 AND "credit_account"."held" <= "credit_account"."balance");--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_debt_non_negative" CHECK ("credit_account"."debt" >= 0);
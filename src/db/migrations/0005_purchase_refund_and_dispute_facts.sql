CREATE TABLE "credit_refund" (
	"refund_id" text PRIMARY KEY NOT NULL,
	"purchase_id" uuid NOT NULL,
	"amount" integer NOT NULL,
	"status" text NOT NULL,
	"status_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_refund_amount_non_negative" CHECK ("credit_refund"."amount" >= 0)
);
--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "clawback_sequence" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "charge_amount_refunded" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "charge_refunded_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "dispute_status" text;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "dispute_event_type" text;--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD COLUMN "dispute_event_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "credit_refund" ADD CONSTRAINT "credit_refund_purchase_id_credit_purchase_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."credit_purchase"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "credit_refund_purchase_idx" ON "credit_refund" USING btree ("purchase_id");
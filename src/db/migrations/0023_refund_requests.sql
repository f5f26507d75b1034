CREATE TABLE "refund_request" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"purchase_id" uuid NOT NULL,
	"amount" integer NOT NULL,
	"status" text DEFAULT 'requested' NOT NULL,
	"refund_id" text,
	"idempotency_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "refund_request_idempotencyKey_unique" UNIQUE("idempotency_key"),
	CONSTRAINT "refund_request_amount_positive" CHECK ("refund_request"."amount" > 0),
	CONSTRAINT "refund_request_status_known" CHECK ("refund_request"."status" IN ('requested', 'accepted', 'refused'))
);
--> statement-breakpoint
ALTER TABLE "refund_request" ADD CONSTRAINT "refund_request_purchase_id_credit_purchase_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."credit_purchase"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "refund_request_purchase_idx" ON "refund_request" USING btree ("purchase_id");
CREATE TABLE "invoice_proration_credit" (
	"crediting_invoice_id" text NOT NULL,
	"line_id" text NOT NULL,
	"credited_invoice_id" text NOT NULL,
	"subscription_id" uuid NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"source" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "invoice_proration_credit_crediting_invoice_id_line_id_pk" PRIMARY KEY("crediting_invoice_id","line_id"),
	CONSTRAINT "invoice_proration_credit_amount_positive" CHECK ("invoice_proration_credit"."amount" > 0),
	CONSTRAINT "invoice_proration_credit_source_known" CHECK ("invoice_proration_credit"."source" IN ('line', 'period'))
);
--> statement-breakpoint
ALTER TABLE "subscription" ADD COLUMN "adopted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "invoice_proration_credit" ADD CONSTRAINT "invoice_proration_credit_subscription_id_subscription_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscription"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "invoice_proration_credit_credited_idx" ON "invoice_proration_credit" USING btree ("credited_invoice_id");
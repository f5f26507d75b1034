CREATE TABLE "sandbox_event_outbox" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payment_intent_id" text NOT NULL,
	"payload" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sandbox_idempotency" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"operation" text NOT NULL,
	"request_hash" text NOT NULL,
	"response_status" integer NOT NULL,
	"response_body" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_failure" (
	"event_id" text PRIMARY KEY NOT NULL,
	"event_type" text NOT NULL,
	"payload" text NOT NULL,
	"error_code" text NOT NULL,
	"reason" text NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"first_failed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_failed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	"resolved_by" text,
	"resolution" text
);
--> statement-breakpoint
ALTER TABLE "credit_purchase" DROP CONSTRAINT "credit_purchase_status_known";--> statement-breakpoint
CREATE INDEX "sandbox_event_outbox_due_idx" ON "sandbox_event_outbox" USING btree ("next_attempt_at") WHERE "sandbox_event_outbox"."delivered_at" IS NULL;--> statement-breakpoint
CREATE INDEX "sandbox_event_outbox_intent_idx" ON "sandbox_event_outbox" USING btree ("payment_intent_id");--> statement-breakpoint
CREATE INDEX "webhook_failure_unresolved_idx" ON "webhook_failure" USING btree ("last_failed_at") WHERE "webhook_failure"."resolved_at" IS NULL;--> statement-breakpoint
CREATE INDEX "credit_purchase_pending_idx" ON "credit_purchase" USING btree ("created_at") WHERE "credit_purchase"."status" = 'pending';--> statement-breakpoint
ALTER TABLE "credit_purchase" ADD CONSTRAINT "credit_purchase_status_known" CHECK ("credit_purchase"."status" IN ('pending', 'succeeded', 'failed', 'canceled', 'requires_review', 'abandoned'));
CREATE TABLE "bulk_batch" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"file_sha256" text NOT NULL,
	"file_name" text NOT NULL,
	"operator_user_id" text,
	"operator_label" text NOT NULL,
	"status" text DEFAULT 'previewed' NOT NULL,
	"total_rows" integer DEFAULT 0 NOT NULL,
	"valid_rows" integer DEFAULT 0 NOT NULL,
	"applied_rows" integer DEFAULT 0 NOT NULL,
	"failed_rows" integer DEFAULT 0 NOT NULL,
	"grant_total" bigint DEFAULT 0 NOT NULL,
	"revoke_total" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"applied_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "bulk_batch_fileSha256_unique" UNIQUE("file_sha256"),
	CONSTRAINT "bulk_batch_status" CHECK ("bulk_batch"."status" IN ('previewed', 'queued', 'running', 'done'))
);
--> statement-breakpoint
CREATE TABLE "bulk_row" (
	"batch_id" uuid NOT NULL,
	"row_number" integer NOT NULL,
	"user_ref" text NOT NULL,
	"ref_kind" text NOT NULL,
	"user_id" text,
	"amount" bigint,
	"expire_days" integer,
	"expires_at" timestamp with time zone,
	"reason" text NOT NULL,
	"status" text NOT NULL,
	"error" text,
	"entry_id" bigint,
	CONSTRAINT "bulk_row_batch_id_row_number_pk" PRIMARY KEY("batch_id","row_number"),
	CONSTRAINT "bulk_row_status" CHECK ("bulk_row"."status" IN ('valid', 'invalid', 'applied', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "bulk_row" ADD CONSTRAINT "bulk_row_batch_id_bulk_batch_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."bulk_batch"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "bulk_batch_created_idx" ON "bulk_batch" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "bulk_row_pending_idx" ON "bulk_row" USING btree ("batch_id","row_number") WHERE "bulk_row"."status" = 'valid';
CREATE TABLE "subscription_rollover" (
	"subscription_id" uuid NOT NULL,
	"into_start" timestamp with time zone NOT NULL,
	"into_end" timestamp with time zone NOT NULL,
	"user_id" text NOT NULL,
	"plan_id" text NOT NULL,
	"cap" integer NOT NULL,
	"credits" integer,
	"status" text NOT NULL,
	"entry_id" bigint,
	"lot_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"settled_at" timestamp with time zone,
	CONSTRAINT "subscription_rollover_subscription_id_into_start_pk" PRIMARY KEY("subscription_id","into_start"),
	CONSTRAINT "subscription_rollover_status_known" CHECK ("subscription_rollover"."status" IN ('pending', 'granted', 'nothing')),
	CONSTRAINT "subscription_rollover_credits_in_cap" CHECK ("subscription_rollover"."credits" IS NULL OR ("subscription_rollover"."credits" >= 0 AND "subscription_rollover"."credits" <= "subscription_rollover"."cap"))
);
--> statement-breakpoint
ALTER TABLE "subscription_rollover" ADD CONSTRAINT "subscription_rollover_subscription_id_subscription_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscription"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "subscription_rollover_pending_idx" ON "subscription_rollover" USING btree ("into_start") WHERE "subscription_rollover"."status" = 'pending';
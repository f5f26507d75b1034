-- Accounts by external id (src/credits/customers.ts). A credit account belongs to a signed-up user, as before,
-- or to another backend's customer, named by its external id. Every ledger table keeps pointing at
-- credit_account.user_id, so no balance, lot, entry, hold or API key is touched here: this only adds columns
-- and moves the account's foreign key to the user from user_id to a generated column that equals user_id for
-- a user's account and is null for a customer's. Existing rows have no external id, so their owner_user_id is
-- their user_id and the new key holds for every one of them (ON DELETE CASCADE as before: deleting a user
-- still deletes its account and ledger).
ALTER TABLE "credit_account" ADD COLUMN "external_id" text;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "email" text;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "name" text;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "metadata" jsonb;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "created_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_account" ADD COLUMN "owner_user_id" text GENERATED ALWAYS AS (CASE WHEN external_id IS NULL THEN user_id END) STORED;--> statement-breakpoint
-- The new key first, then the old one goes: the migration runs in one transaction, and at no point is a
-- user's account without a key to its user.
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_owner_user_id_user_id_fk" FOREIGN KEY ("owner_user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_account" DROP CONSTRAINT "credit_account_user_id_user_id_fk";--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_externalId_unique" UNIQUE("external_id");--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_customer_id" CHECK ("credit_account"."external_id" IS NULL OR (left("credit_account"."user_id", 4) = 'cus_' AND char_length("credit_account"."external_id") BETWEEN 1 AND 255));

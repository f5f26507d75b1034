-- Scopes for API keys (src/service-api/api-scopes.ts). Keys that exist when this runs get every scope: they
-- could do everything before, and an upgrade must not take access away from a running integration.
ALTER TABLE "api_key" ADD COLUMN "scopes" text[] DEFAULT ARRAY['read', 'spend', 'grant', 'holds', 'admin']::text[] NOT NULL;
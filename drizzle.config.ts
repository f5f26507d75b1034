import { defineConfig } from "drizzle-kit";

// Migrations are generated once from the schema and applied at start-up by src/db/migrate.ts,
// on PGlite and PostgreSQL alike: one schema, one set of migrations.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema/index.ts",
  out: "./src/db/migrations",
  casing: "snake_case",
});

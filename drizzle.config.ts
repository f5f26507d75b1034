import { defineConfig } from "drizzle-kit";

// Migrations are generated from the schema (`npm run db:generate`) and applied at start-up by
// connectDatabase in src/db/connect.ts (and by `npm run credits` commands that open the database),
// on PGlite and PostgreSQL alike: one schema, one set of migrations.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema/index.ts",
  out: "./src/db/migrations",
  casing: "snake_case",
});

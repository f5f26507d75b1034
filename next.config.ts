import type { NextConfig } from "next";
import createNextIntlPlugin from "next-intl/plugin";

const withNextIntl = createNextIntlPlugin("./src/i18n/request.ts");

const nextConfig: NextConfig = {
  // PGlite ships WASM and data files that must be loaded from node_modules at run time, not bundled.
  serverExternalPackages: ["@electric-sql/pglite", "pino", "pg", "pg-boss"],
  poweredByHeader: false,
  // CI (.ci/run) checks the types with `tsc --noEmit` on this tsconfig, after `next typegen`, before it
  // builds, and sets CREDITKIT_TYPES_CHECKED=1 only when that check passed: the build then skips its own
  // run of the same check (about half a minute on two cores). Everywhere else the build checks them.
  typescript: { ignoreBuildErrors: process.env.CREDITKIT_TYPES_CHECKED === "1" },
  // Read at run time from the project root whenever the database is migrated (src/db/connect.ts and
  // src/db/sql-functions.ts), not imported, so the bundler does not see them: listed for the output file
  // tracing, so that a traced build (e.g. output: "standalone") carries them beside the server.
  outputFileTracingIncludes: { "/*": ["src/db/migrations/**/*", "src/**/sql/*.sql"] },
};

export default withNextIntl(nextConfig);

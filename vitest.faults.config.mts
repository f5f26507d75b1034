import path from "node:path";
import { defineConfig } from "vitest/config";

/**
 * Fault tests (`npm run test:faults`): the production server is crashed, cut off from its database and
 * made to wait on locks. Each file starts its own server and database, so files run one at a time —
 * two production servers under load would make the timings on a 2-core machine meaningless.
 */
export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname, "src") } },
  test: {
    include: ["tests/faults/**/*.test.ts"],
    globalSetup: ["tests/faults/support/global-setup.ts"],
    environment: "node",
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // CREDITKIT_FAULT_TESTS: the suites skip themselves when the main config (tests/**) collects them.
    env: { NODE_ENV: "test", CREDITKIT_FAULT_TESTS: "1" },
  },
});

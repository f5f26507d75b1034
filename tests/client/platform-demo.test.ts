import path from "node:path";
import { and, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditAccount, outboundEvent, webhookDelivery } from "../../src/db/schema";
import { runWebhookDelivery } from "../../src/outbound/deliver-webhooks";
import { createApiKey } from "../../src/service-api/api-keys";
import { type ApiServer, serveApi } from "../support/api-server";
import { assertLedgerInvariants } from "../support/invariants";
import { REPO_ROOT, runProcess } from "../support/processes";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// The "done when" of the platform, as a new user would try it: clients/typescript/examples/platform-demo.mjs
// run as its own Node process, importing nothing but the built @creditkit/client, against the service API
// served over HTTP, with the outbound-event delivery worker running as `npm start` runs it on the embedded
// database (a pass every 2 seconds; here every half second). The receiver's outage is 3 seconds instead
// of a minute, and the first retry comes after 2 seconds instead of 30: what it exercises is the same
// backoff, without half a minute of waiting per database.
const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const OPERATOR = { userId: null, label: "platform demo test" };
const DEMO = path.join("clients", "typescript", "examples", "platform-demo.mjs");

beforeAll(async () => {
  const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  const build = await runProcess(process.execPath, [tsc, "-p", "clients/typescript"], {
    env: { PATH: process.env.PATH ?? "" },
  });
  expect(build.code, `tsc -p clients/typescript failed:\n${build.stdout}${build.stderr}`).toBe(0);
}, 120_000);

describe.each(databaseKinds())("the platform demo against the running service API on %s", (kind) => {
  let database: TestDatabase;
  let server: ApiServer;
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    server = await serveApi();
    let running = true;
    const worker = (async () => {
      while (running) {
        await runWebhookDelivery(database.db, { timeoutMs: 5_000, firstRetrySeconds: 2 });
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    stopWorker = async () => {
      running = false;
      await worker;
    };
  });
  afterAll(async () => {
    await stopWorker?.();
    await server?.close();
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  it("creates a customer, spends, receives every signed event through an outage, and refuses a grant without the scope", async () => {
    const { key } = await createApiKey(database.db, "demo", OPERATOR);
    const { key: meteringKey } = await createApiKey(database.db, "metering", OPERATOR, [
      "read",
      "spend",
      "holds",
    ]);
    const externalId = `demo-${kind}`;
    const run = await runProcess(process.execPath, [DEMO], {
      env: {
        PATH: process.env.PATH ?? "",
        CREDITKIT_URL: server.origin,
        CREDITKIT_API_KEY: key,
        CREDITKIT_METERING_API_KEY: meteringKey,
        DEMO_CUSTOMER_ID: externalId,
        DEMO_DOWN_SECONDS: "3",
        DEMO_WAIT_SECONDS: "90",
        DEMO_KEEP_ENDPOINT: "1",
      },
      timeoutMs: 150_000,
    });
    const output = `${run.stdout}${run.stderr}`;
    expect(run.code, output).toBe(0);
    expect(run.stdout).toMatch(
      /^customer demo-\w+: created \(account cus_\S+\); the same PUT again changed nothing$/m,
    );
    expect(run.stdout).toContain("granted 100, spent 10, held 30 and captured 20: balance 70");
    expect(run.stdout).toContain('a key without grant: 403 insufficient_scope, missing scope "grant"');
    expect(run.stdout).toContain("3 events arrived, each signature verified");
    const died = /receiver down for 3 s \(it died reading credits\.granted (evt_\w+)\)/.exec(run.stdout);
    expect(died, output).not.toBeNull();
    expect(run.stdout).toContain(
      `received credits.granted ${died?.[1]} again (a duplicate: the same id as the delivery the receiver died on)`,
    );
    expect(run.stdout).toMatch(
      /all 7 events arrived, each handled once: \d+ verified deliveries, [1-9]\d* event\(s\) delivered more than once, every duplicate with its event's id/,
    );
    // 100 - 10 - 20 + 50 - 5 - 7 - 10
    expect(run.stdout).toContain("balance 98, held 0, available 98");

    // What the server recorded agrees: the customer's account, its balance, and seven events each
    // delivered, the one the receiver died on after more than one attempt.
    const [account] = await database.db
      .select({ userId: creditAccount.userId })
      .from(creditAccount)
      .where(eq(creditAccount.externalId, externalId));
    expect(account).toBeDefined();
    const userId = account?.userId as string;
    expect((await getBalance(database.db, userId)).balance).toBe(98);
    const events = await database.db
      .select({ id: outboundEvent.id })
      .from(outboundEvent)
      .where(eq(outboundEvent.userId, userId));
    expect(events).toHaveLength(7);
    const sent = await database.db
      .select({ status: webhookDelivery.status, attempts: webhookDelivery.attempts })
      .from(webhookDelivery)
      .where(
        and(
          eq(webhookDelivery.userId, userId),
          inArray(
            webhookDelivery.eventId,
            events.map((event) => event.id),
          ),
        ),
      );
    expect(sent).toHaveLength(7);
    for (const delivery of sent) expect(delivery.status).toBe("delivered");
    expect(Math.max(...sent.map((delivery) => delivery.attempts))).toBeGreaterThan(1);
    expect(output).not.toContain("FAILED");
  }, 200_000);
});

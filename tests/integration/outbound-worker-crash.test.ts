import { spawn } from "node:child_process";
import path from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { webhookDelivery } from "../../src/db/schema";
import { createWebhookEndpoint } from "../../src/outbound/create-webhook-endpoint";
import { runWebhookDelivery } from "../../src/outbound/deliver-webhooks";
import { testDatabaseUrl } from "../support/paths";
import { REPO_ROOT } from "../support/processes";
import { seedUser } from "../support/seed";
import { useTestDatabase } from "../support/test-database";
import { startWebhookReceiver, verifyWebhook } from "../support/webhook-receiver";

const WORKER = path.join(REPO_ROOT, "tests", "support", "outbound-worker.ts");
const TSX = path.join(REPO_ROOT, "node_modules", ".bin", "tsx");

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A worker process SIGKILLed while a receiver holds its request: the delivery stays pending under the dead
 * worker's lease; once the lease runs out another worker delivers it again (same webhook-id) and then the
 * rest, in order. PostgreSQL only: PGlite's database belongs to one process.
 */
describe.skipIf(!testDatabaseUrl())("a delivery worker killed mid-delivery (postgres)", () => {
  const database = useTestDatabase("postgres");

  it("delivers everything after a restart, the interrupted event again with the same id", async () => {
    let hang = true;
    const receiver = await startWebhookReceiver(() => (hang ? "hang" : { status: 200 }));
    const endpoint = await createWebhookEndpoint(database.db, {
      url: receiver.url,
      eventTypes: ["credits.granted", "credits.consumed"],
    });
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 10,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    for (const key of ["a", "b"])
      await consumeCredits(database.db, { userId, amount: 1, description: key, idempotencyKey: key });

    const child = spawn(TSX, [WORKER, database.url ?? ""], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LOG_LEVEL: "warn" },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );
    try {
      await until(() => receiver.received.length === 1, 30_000, `the worker's first request (${output})`);
    } finally {
      if (child.exitCode === null && child.pid) process.kill(-child.pid, "SIGKILL");
    }
    expect(await exited).toBe("SIGKILL");
    const interrupted = receiver.received[0]?.id;
    const [leased] = await database.db
      .select()
      .from(webhookDelivery)
      .where(eq(webhookDelivery.eventId, interrupted ?? ""));
    expect(leased).toMatchObject({ status: "pending", attempts: 0 });
    expect(leased?.leasedUntil).not.toBeNull();

    hang = false;
    // While the dead worker's lease lasts, nobody takes the delivery...
    await runWebhookDelivery(database.db);
    expect(receiver.received).toHaveLength(1);
    // ...after it, the restarted worker delivers it and the rest.
    await runWebhookDelivery(database.db, { now: new Date(Date.now() + 5 * 60_000) });
    await receiver.close();
    const accepted = receiver.accepted();
    expect(accepted.map((request) => request.id)).toEqual([
      interrupted,
      ...accepted.slice(1).map((r) => r.id),
    ]);
    expect(receiver.received.filter((request) => request.id === interrupted)).toHaveLength(2);
    expect(accepted.map((request) => verifyWebhook(endpoint.secret, request).data.balanceAfter)).toEqual([
      10, 9, 8,
    ]);
  }, 60_000);
});

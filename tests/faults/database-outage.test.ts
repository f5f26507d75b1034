import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "@/credits/verify-ledger";
import type { DatabaseConnection } from "@/db/connect";
import { testId } from "../support/stripe-events";
import {
  type Answer,
  balance,
  deliverWebhook,
  type PendingPurchase,
  type SpendBody,
  type SpendRequest,
  STRIPE_ENV,
  spend,
  succeededEvent,
  type WebhookBody,
} from "./support/api";
import {
  connectForSeeding,
  createFaultDatabase,
  type FaultDatabase,
  inspectionPool,
} from "./support/database";
import { accounts, entriesByKey, runVerifyCli, storedApiAnswers } from "./support/ledger";
import { databaseUrl, FAULT_SUITE, postgresAdminUrl } from "./support/paths";
import { ledgerKeyOf, seedApiKey, seedPendingPurchase, seedUsersWithCredits } from "./support/seed";
import { makeDataDir, type RunningServer, sleep, startServer } from "./support/server";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy";

const USERS = 4;
// Enough that no spend runs out of credits however fast the server is: a 402 would hide what the test checks.
const GRANT = 1_000_000;
const PURCHASES = 12;
/** With the database refusing connections, an answer costs a refused connection attempt, nothing more. */
const FAIL_FAST_MS = 5_000;
/** How long the app may take to serve again once the database is back (no restart). */
const RECOVERY_MS = 15_000;
/**
 * A database that stops answering (no reset) can only be detected by a client-side timeout: the pool's
 * `connectionTimeoutMillis` (5 s) for a connection and `query_timeout` (20 s) for a statement
 * (src/db/connect.ts; the server's statement_timeout cannot fire when the server is silent), plus 2 s for
 * the answer. A request that meets both waits ends after 25 s and a few milliseconds (seen: 25,019 ms);
 * later than the bound is a hang.
 */
const STALL_BOUND_MS = 27_000;
const UNAVAILABLE_CODES = ["database_unavailable", "database_busy"];

type SentSpend = { request: SpendRequest; answer: Answer<SpendBody>; afterCut: boolean };
type SentEvent = {
  purchase: PendingPurchase;
  payload: string;
  answer: Answer<WebhookBody>;
  afterCut: boolean;
};

function describeAnswer(answer: Answer<unknown>): string {
  return answer.answered
    ? `HTTP ${answer.status} ${JSON.stringify(answer.body)} after ${Math.round(answer.ms)} ms`
    : `no answer (${answer.hung ? "hung" : answer.error}) after ${Math.round(answer.ms)} ms`;
}

/** Why a spend's answer is not what a client may get while the database is gone, if it is not. */
function spendProblem(answer: Answer<SpendBody>, options: { mustFail: boolean; withinMs: number }) {
  if (!answer.answered) return describeAnswer(answer);
  if (answer.status === 200 && !options.mustFail) return undefined;
  if (answer.status !== 503 || !UNAVAILABLE_CODES.includes(answer.body?.error?.code ?? ""))
    return `${describeAnswer(answer)}: expected 503 database_unavailable or database_busy`;
  if (answer.ms > options.withinMs) return `${describeAnswer(answer)}: slower than ${options.withinMs} ms`;
  return undefined;
}

/** Why a webhook delivery's answer would not make Stripe retry it, if it would not. */
function webhookProblem(answer: Answer<WebhookBody>, options: { mustFail: boolean; withinMs: number }) {
  if (!answer.answered) return describeAnswer(answer);
  if (answer.status === 200 && !options.mustFail) return undefined;
  if (answer.status < 500 || answer.status > 599)
    return `${describeAnswer(answer)}: expected a 5xx, the only answer Stripe retries`;
  if (answer.ms > options.withinMs) return `${describeAnswer(answer)}: slower than ${options.withinMs} ms`;
  return undefined;
}

describe.skipIf(!FAULT_SUITE)(
  "database outage: the server's connection to PostgreSQL fails and comes back",
  () => {
    let database: FaultDatabase | undefined;
    let proxy: TcpProxy | undefined;
    const data = makeDataDir();
    let server: RunningServer | undefined;
    let seed: DatabaseConnection;
    let pool: pg.Pool;
    let key: string;
    let apiKeyId: string;
    let users: string[];
    const run = randomBytes(4).toString("hex");

    beforeAll(async () => {
      database = await createFaultDatabase("outage");
      const postgres = new URL(postgresAdminUrl());
      proxy = await startTcpProxy({ host: postgres.hostname, port: Number(postgres.port || 5432) });
      server = await startServer({
        name: "database-outage",
        databaseUrl: databaseUrl(database.name, proxy.port),
        dataDir: data.dataDir,
        env: STRIPE_ENV,
      });
      // The test's own connections go straight to PostgreSQL: only the server loses its database.
      seed = await connectForSeeding(database.url);
      pool = inspectionPool(database.url);
      ({ key, apiKeyId } = await seedApiKey(seed.db, "faults-outage"));
      users = await seedUsersWithCredits(seed.db, USERS, GRANT);
    });

    afterAll(async () => {
      await server?.kill("SIGKILL").catch(() => {});
      await proxy?.close().catch(() => {});
      await seed?.close().catch(() => {});
      await pool?.end().catch(() => {});
      await database?.drop();
      data.remove();
    });

    it("cut: answers 5xx/503 at once, writes nothing half-way, recovers without a restart", async () => {
      const app = server!;
      const purchases: PendingPurchase[] = [];
      for (let i = 0; i < PURCHASES; i++)
        purchases.push(await seedPendingPurchase(seed.db, users[i % USERS] as string));
      let counter = 0;
      const spends: SentSpend[] = [];
      const events: SentEvent[] = [];
      let cut = false;
      const sendSpend = async () => {
        const afterCut = cut;
        const i = counter++;
        const request = {
          userId: users[i % USERS] as string,
          amount: 1 + (i % 5),
          idempotencyKey: `cut-${run}-${i}`,
        };
        spends.push({ request, answer: await spend(app.url, key, request), afterCut });
      };
      const sendEvent = async (purchase: PendingPurchase) => {
        const afterCut = cut;
        const payload = succeededEvent(purchase, testId("evt"));
        events.push({ purchase, payload, answer: await deliverWebhook(app.url, payload), afterCut });
      };

      // Healthy: the first purchases are credited and spends go through.
      for (const purchase of purchases.slice(0, 2)) await sendEvent(purchase);
      for (let i = 0; i < 4; i++) await sendSpend();
      expect(events.map((e) => e.answer.answered && e.answer.status)).toEqual([200, 200]);
      expect(spends.map((s) => s.answer.answered && s.answer.status)).toEqual([200, 200, 200, 200]);

      // Under traffic (spend clients plus webhook deliveries), the database goes away: the connections
      // carrying the in-flight transactions are reset.
      let trafficOn = true;
      const spendClients = Array.from({ length: 6 }, async () => {
        while (trafficOn) await sendSpend();
      });
      const webhookClient = (async () => {
        for (const purchase of purchases.slice(2, 6)) {
          await sendEvent(purchase);
          await sleep(300);
        }
      })();
      await sleep(1_000);
      await proxy!.cut();
      cut = true;
      await sleep(1_000);
      trafficOn = false;
      await Promise.all([...spendClients, webhookClient]);

      // While it is gone, more of both arrive.
      for (const purchase of purchases.slice(6)) await sendEvent(purchase);
      for (let i = 0; i < 6; i++) await sendSpend();

      // Every answer is a quick, retryable refusal (or, before the cut, a success).
      const spendProblems = spends.flatMap((s) => {
        const problem = spendProblem(s.answer, { mustFail: s.afterCut, withinMs: FAIL_FAST_MS });
        return problem
          ? [`spend ${s.request.idempotencyKey}${s.afterCut ? " (after the cut)" : ""}: ${problem}`]
          : [];
      });
      expect.soft(spendProblems, "spends must get 503 database_unavailable/database_busy").toEqual([]);
      const eventProblems = events.flatMap((e) => {
        const problem = webhookProblem(e.answer, { mustFail: e.afterCut, withinMs: FAIL_FAST_MS });
        return problem ? [`event for ${e.purchase.paymentIntentId}: ${problem}`] : [];
      });
      expect.soft(eventProblems, "webhooks must get a 5xx so Stripe retries").toEqual([]);
      expect(
        spends.filter((s) => s.afterCut).length,
        "spends refused during the outage",
      ).toBeGreaterThanOrEqual(6);
      expect(
        events.filter((e) => e.afterCut).length,
        "events refused during the outage",
      ).toBeGreaterThanOrEqual(6);

      // Nothing is written half-way: what the server could not confirm is either all there or not at all.
      const committedBeforeRetry = await expectSpendsAllOrNothing(pool, apiKeyId, spends);
      await expectPurchasesAllOrNothing(pool, events);

      // The database comes back; the same server process serves again.
      await proxy!.restore();
      const recovered = await waitUntilServing(app.url, key, users[0] as string);
      expect(recovered.ok, `the app did not serve again within ${RECOVERY_MS} ms: ${recovered.last}`).toBe(
        true,
      );

      // Stripe retries every event it got a 5xx for (a new signature, the same event): each credits once.
      const failedEvents = events.filter((e) => !(e.answer.answered && e.answer.status === 200));
      for (const e of failedEvents) {
        const retry = await deliverWebhook(app.url, e.payload);
        const label = `retried event for ${e.purchase.paymentIntentId}: ${describeAnswer(retry)}`;
        expect(retry.answered && retry.status, label).toBe(200);
        if (retry.answered) expect(["granted", "duplicate"], label).toContain(retry.body?.outcome);
      }
      // Another delivery of every event changes nothing.
      for (const e of events) {
        const again = await deliverWebhook(app.url, e.payload);
        expect(again.answered && [again.status, again.body?.outcome], describeAnswer(again)).toEqual([
          200,
          "duplicate",
        ]);
      }

      // The clients retry their refused spends: each applies once (one that had committed is replayed).
      const refused = spends.filter((s) => !(s.answer.answered && s.answer.status === 200));
      for (const s of refused) {
        const retry = await spend(app.url, key, s.request);
        const label = `retried spend ${s.request.idempotencyKey}: ${describeAnswer(retry)}`;
        expect(retry.answered && retry.status, label).toBe(200);
        if (retry.answered)
          expect(retry.replayed, label).toBe(committedBeforeRetry.has(s.request.idempotencyKey));
      }

      const finalEntries = await entriesByKey(pool);
      for (const s of spends) {
        const found = finalEntries.get(ledgerKeyOf(apiKeyId, s.request.idempotencyKey));
        expect(found, s.request.idempotencyKey).toHaveLength(1);
      }
      await expectPurchasesAllOrNothing(pool, events, { allSucceeded: true });
      const expected = new Map(users.map((userId) => [userId, GRANT]));
      for (const s of spends)
        expected.set(s.request.userId, (expected.get(s.request.userId) ?? 0) - s.request.amount);
      for (const p of purchases) expected.set(p.userId, (expected.get(p.userId) ?? 0) + p.credits);
      const finalAccounts = await accounts(pool);
      for (const [userId, credits] of expected)
        expect(finalAccounts.get(userId)?.balance, userId).toBe(credits);

      const verify = await runVerifyCli(database!.url, data.dataDir);
      expect(verify.code, verify.output).toBe(0);

      // Broken connections are an expected event for a database client: handled, never an uncaught exception
      // (which a plain Node server would die of; the Next.js runtime under `npm start` only logs it).
      const uncaught = app.output().match(/uncaughtException.*$/gm) ?? [];
      expect.soft(uncaught, "uncaught exceptions in the server while its connections broke").toEqual([]);

      console.info(
        `cut: ${spends.length} spends (${refused.length} refused, ${committedBeforeRetry.size - (spends.length - refused.length)} of those had committed), ` +
          `${events.length} events (${failedEvents.length} refused); served again ${Math.round(recovered.ms)} ms after the restore`,
      );
    });

    it("stall: gives up in bounded time when the database stops answering (no reset, no refusal)", async () => {
      const app = server!;
      await proxy!.restore();
      expect((await waitUntilServing(app.url, key, users[0] as string)).ok, "serving before the stall").toBe(
        true,
      );
      const purchase = await seedPendingPurchase(seed.db, users[1] as string);
      const payload = succeededEvent(purchase, testId("evt"));
      const request = { userId: users[2] as string, amount: 3, idempotencyKey: `stall-${run}` };

      proxy!.stall();
      let spent: Answer<SpendBody>;
      let delivered: Answer<WebhookBody>;
      try {
        [spent, delivered] = await Promise.all([
          spend(app.url, key, request, STALL_BOUND_MS + 5_000),
          deliverWebhook(app.url, payload, STALL_BOUND_MS + 5_000),
        ]);
      } finally {
        // Whatever happened, end the stall: the stuck connections are reset and the database is back.
        await proxy!.cut();
        await proxy!.restore();
      }
      expect
        .soft(spendProblem(spent, { mustFail: true, withinMs: STALL_BOUND_MS }), "the spend during the stall")
        .toBeUndefined();
      expect
        .soft(
          webhookProblem(delivered, { mustFail: true, withinMs: STALL_BOUND_MS }),
          "the webhook during the stall",
        )
        .toBeUndefined();

      const recovered = await waitUntilServing(app.url, key, users[0] as string);
      expect(recovered.ok, `the app did not serve again within ${RECOVERY_MS} ms: ${recovered.last}`).toBe(
        true,
      );
      const committed = await expectSpendsAllOrNothing(pool, apiKeyId, [
        { request, answer: spent, afterCut: false },
      ]);
      await expectPurchasesAllOrNothing(pool, [{ purchase, payload }]);

      const retry = await spend(app.url, key, request);
      expect(retry.answered && [retry.status, retry.replayed], describeAnswer(retry)).toEqual([
        200,
        committed.has(request.idempotencyKey),
      ]);
      const redelivered = await deliverWebhook(app.url, payload);
      expect(redelivered.answered && redelivered.status, describeAnswer(redelivered)).toBe(200);
      await expectPurchasesAllOrNothing(pool, [{ purchase, payload }], { allSucceeded: true });
      expect((await verifyLedger(seed.db)).violations).toEqual([]);
    });
  },
);

/**
 * A spend the server could not confirm is either complete (entry, allocations, stored answer) or absent;
 * a confirmed one is there. Returns the keys that are in the ledger.
 */
async function expectSpendsAllOrNothing(pool: pg.Pool, apiKeyId: string, spends: SentSpend[]) {
  const entries = await entriesByKey(pool);
  const stored = await storedApiAnswers(pool);
  const committed = new Set<string>();
  for (const s of spends) {
    const found = entries.get(ledgerKeyOf(apiKeyId, s.request.idempotencyKey)) ?? [];
    const label = `spend ${s.request.idempotencyKey}: ${describeAnswer(s.answer)}`;
    expect(found.length, label).toBeLessThanOrEqual(1);
    const [entry] = found;
    if (s.answer.answered && s.answer.status === 200) expect(entry, label).toBeDefined();
    if (s.afterCut) expect(entry, `${label} (sent while the database was gone)`).toBeUndefined();
    if (entry) {
      expect(entry, label).toMatchObject({ userId: s.request.userId, amount: -s.request.amount });
      expect(entry.allocated, label).toBe(s.request.amount);
      expect(stored.get(s.request.idempotencyKey), label).toBe(200);
      committed.add(s.request.idempotencyKey);
    } else {
      expect(stored.has(s.request.idempotencyKey), `${label}: an idempotency record without its spend`).toBe(
        false,
      );
    }
  }
  return committed;
}

type Delivery = { purchase: PendingPurchase; payload: string };

const eventIdOf = (payload: string) => (JSON.parse(payload) as { id: string }).id;

/**
 * A purchase's webhook either did all of its work (event recorded as granted, one grant, purchase
 * succeeded) or none of it (purchase pending, no grant, no event row: Stripe's retry is processed).
 */
async function expectPurchasesAllOrNothing(
  pool: pg.Pool,
  deliveries: Delivery[],
  options: { allSucceeded?: boolean } = {},
): Promise<void> {
  const entries = await entriesByKey(pool);
  const { rows } = await pool.query<{
    payment_intent_id: string;
    status: string;
    grant_entry_id: string | null;
  }>(
    "SELECT payment_intent_id, status, grant_entry_id FROM credit_purchase WHERE payment_intent_id = ANY($1)",
    [deliveries.map((d) => d.purchase.paymentIntentId)],
  );
  const { rows: eventRows } = await pool.query<{ id: string; outcome: string }>(
    "SELECT id, outcome FROM webhook_event WHERE id = ANY($1)",
    [deliveries.map((d) => eventIdOf(d.payload))],
  );
  const grants = [...entries.values()].flat().filter((entry) => entry.type === "purchase");
  for (const { purchase, payload } of deliveries) {
    const row = rows.find((r) => r.payment_intent_id === purchase.paymentIntentId);
    const granted = grants.filter((entry) => entry.reference === purchase.paymentIntentId);
    const event = eventRows.find((r) => r.id === eventIdOf(payload));
    const label = `purchase ${purchase.purchaseId} (${purchase.paymentIntentId})`;
    if (row?.status === "succeeded") {
      expect(
        granted.map((entry) => entry.id),
        label,
      ).toEqual([Number(row.grant_entry_id)]);
      expect(granted[0]?.amount, label).toBe(purchase.credits);
      expect(event?.outcome, `${label}: its event`).toBe("granted");
    } else {
      expect(row?.status, label).toBe("pending");
      expect(granted, label).toEqual([]);
      expect(event, `${label}: a refused delivery must leave no processed event behind`).toBeUndefined();
    }
    if (options.allSucceeded) expect(row?.status, label).toBe("succeeded");
  }
}

async function waitUntilServing(url: string, key: string, userId: string) {
  const started = performance.now();
  let last = "no attempt";
  while (performance.now() - started < RECOVERY_MS) {
    const answer = await balance(url, key, userId, 5_000);
    if (answer.answered && answer.status === 200) return { ok: true, ms: performance.now() - started, last };
    last = describeAnswer(answer);
    await sleep(200);
  }
  return { ok: false, ms: performance.now() - started, last };
}

import type Stripe from "stripe";
import { findPackageOnSale } from "@/catalog/packages";
import { processWebhookEvent } from "@/payment/webhooks/process-webhook-event";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { startCpuMeter } from "../lib/cpu";
import { startLockSampler } from "../lib/lock-sampler";
import { describeStatement, recordQueries } from "../lib/query-log";
import { ceilingTarget, checkTarget, fmt, type Table, type TargetResult } from "../lib/report";
import { benchUserIds, inTransaction } from "../lib/seed";
import { LatencyRecorder, nowMs, round } from "../lib/stats";
import { type Delivery, type Purchase, send, shuffle, succeededEvent } from "../lib/webhooks";

const SENDERS = 16;
const PURCHASES_PER_USER = 2;
const WARMUP_EVENTS = 64;
const MAXIMUM_ACK_P99_MS = 100;
const PACKAGE_ID = "basic";

/** Pending purchases whose PaymentIntent id is already saved, as createCreditPurchase leaves them. */
async function seedPurchases(ctx: BenchContext, tag: string, count: number): Promise<Purchase[]> {
  const pkg = findPackageOnSale(PACKAGE_ID);
  if (!pkg) throw new Error(`package ${PACKAGE_ID} is not on sale`);
  const prefix = `bench-webhook-${tag}-`;
  const users = benchUserIds(prefix, Math.ceil(count / PURCHASES_PER_USER));
  return inTransaction(ctx.pool, async (client) => {
    await client.query(
      `INSERT INTO "user" (id, name, email) SELECT u, 'Bench buyer', u || '@bench.invalid' FROM unnest($1::text[]) AS u`,
      [users],
    );
    const rows = await client.query<{ id: string; user_id: string; payment_intent_id: string }>(
      `INSERT INTO credit_purchase (user_id, package_id, credits, amount, currency, expire_days, provider, status, payment_intent_id)
       SELECT ($1::text[])[1 + (n - 1) / $8::int], $2, $3, $4, $5, $6, 'stripe', 'pending', 'pi_bench_' || $9::text || '_' || n
       FROM generate_series(1, $7::int) AS n
       RETURNING id, user_id, payment_intent_id`,
      [
        users,
        pkg.id,
        pkg.credits,
        pkg.price.amount,
        pkg.price.currency,
        pkg.expireDays ?? null,
        count,
        PURCHASES_PER_USER,
        tag,
      ],
    );
    return rows.rows.map((r) => ({
      id: r.id,
      userId: r.user_id,
      packageId: pkg.id,
      paymentIntentId: r.payment_intent_id,
    }));
  });
}

/** Every purchase credited exactly once: one purchase entry, succeeded, and the buyer's balance adds up. */
async function verify(ctx: BenchContext, tag: string, purchases: number, uniqueEvents: number) {
  const pattern = `pi_bench_${tag}_%`;
  const { rows } = await ctx.pool.query<{
    purchases: string;
    succeeded: string;
    not_once: string;
    wrong_balances: string;
    events: string;
  }>(
    `WITH p AS (SELECT * FROM credit_purchase WHERE payment_intent_id LIKE $1),
          entries AS (
            SELECT p.payment_intent_id, count(e.id) AS n FROM p
            LEFT JOIN credit_entry e ON e.user_id = p.user_id AND e.type = 'purchase' AND e.reference = p.payment_intent_id
            GROUP BY 1),
          owed AS (SELECT user_id, sum(credits) AS credits FROM p GROUP BY 1)
     SELECT (SELECT count(*) FROM p) AS purchases,
            (SELECT count(*) FROM p WHERE status = 'succeeded' AND grant_entry_id IS NOT NULL) AS succeeded,
            (SELECT count(*) FROM entries WHERE n <> 1) AS not_once,
            (SELECT count(*) FROM owed LEFT JOIN credit_account a USING (user_id)
              WHERE a.balance IS DISTINCT FROM owed.credits) AS wrong_balances,
            (SELECT count(*) FROM webhook_event w
              WHERE w.id LIKE 'evt_bench_' || $2 || '_%' AND w.outcome = 'granted') AS events`,
    [pattern, tag],
  );
  const row = rows[0]!;
  const problems: string[] = [];
  if (Number(row.purchases) !== purchases) problems.push(`${row.purchases} purchases, expected ${purchases}`);
  if (Number(row.succeeded) !== purchases) problems.push(`${row.succeeded}/${purchases} succeeded`);
  if (Number(row.not_once) !== 0) problems.push(`${row.not_once} purchases not credited exactly once`);
  if (Number(row.wrong_balances) !== 0) problems.push(`${row.wrong_balances} buyers with a wrong balance`);
  if (Number(row.events) !== uniqueEvents)
    problems.push(`${row.events} granted events recorded, expected ${uniqueEvents}`);
  return problems;
}

export async function runWebhookIntake(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config } = ctx;
  const pkg = findPackageOnSale(PACKAGE_ID);
  if (!pkg) throw new Error(`package ${PACKAGE_ID} is not on sale`);
  const total = config.webhook.events;
  const duplicates = Math.round(total * config.webhook.duplicateShare);
  const unique = total - duplicates;

  const warm = await seedPurchases(ctx, "warm", WARMUP_EVENTS);
  const measured = await seedPurchases(ctx, "run", unique);
  const [probe] = await seedPurchases(ctx, "probe", 1);
  const server = await ctx.server();
  const url = new URL("/api/webhooks/stripe", server.url);

  const event = (tag: string, purchase: Purchase, n: number): Delivery => {
    const eventId = `evt_bench_${tag}_${n}`;
    return {
      eventId,
      payload: succeededEvent(eventId, purchase, pkg.price.amount, pkg.price.currency),
      duplicate: false,
    };
  };
  ctx.log(`  4: warm-up with ${WARMUP_EVENTS} events`);
  const warmOutcomes = await send(
    url,
    warm.map((p, n) => event("warm", p, n)),
    SENDERS,
  );

  const originals = measured.map((p, n) => event("run", p, n));
  const resent = Array.from({ length: duplicates }, () => ({
    ...originals[Math.floor(Math.random() * originals.length)]!,
    duplicate: true,
  }));
  const deliveries = shuffle([...originals, ...resent]);
  ctx.log(`  4: ${total} deliveries (${duplicates} re-sent event ids) from ${SENDERS} senders`);
  const sampler = startLockSampler(config.databaseUrl, config.databaseName, 100);
  const meter = await startCpuMeter(ctx.pool, config.databaseName, server.processGroup);
  const started = nowMs();
  const outcomes = await send(url, deliveries, SENDERS);
  const seconds = (nowMs() - started) / 1000;
  const cpu = await meter.stop();
  const locks = await sampler.stop();
  const perEvent = (ms: number | null) => (ms === null ? null : ms / total);

  const recorder = new LatencyRecorder();
  const byOutcome: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  for (const o of outcomes) {
    recorder.record(o.ms);
    byOutcome[o.outcome] = (byOutcome[o.outcome] ?? 0) + 1;
    byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
  }
  const latency = recorder.summary();
  const problems = await verify(ctx, "run", unique, unique);
  const non2xx = outcomes.filter((o) => o.status < 200 || o.status >= 300).length;
  if (non2xx > 0) problems.push(`${non2xx} deliveries not acknowledged with 2xx`);
  if ((byOutcome.granted ?? 0) !== unique)
    problems.push(`${byOutcome.granted ?? 0} granted answers, expected ${unique}`);
  if ((byOutcome.duplicate ?? 0) !== duplicates)
    problems.push(`${byOutcome.duplicate ?? 0} duplicate answers, expected ${duplicates}`);
  const warmProblems = warmOutcomes.filter((o) => o.status !== 200).length;
  if (warmProblems > 0) problems.push(`${warmProblems} warm-up deliveries failed`);

  const statements = await countEventStatements(ctx, probe!, pkg.price.amount, pkg.price.currency);

  const table: Table = {
    title: `4. Webhook intake: POST /api/webhooks/stripe, ${total} signed payment_intent.succeeded deliveries (${duplicates} duplicates), ${SENDERS} senders`,
    headers: [
      "events/s",
      "ack p50 ms",
      "ack p99 ms",
      "ack max ms",
      "granted",
      "duplicate",
      "non-2xx",
      "credited exactly once",
      "server CPU ms/event",
      "PG CPU ms/event",
    ],
    rows: [
      [
        fmt(total / seconds, 0),
        fmt(latency.p50),
        fmt(latency.p99),
        fmt(latency.max),
        byOutcome.granted ?? 0,
        byOutcome.duplicate ?? 0,
        non2xx,
        problems.length === 0 ? "yes" : "NO",
        fmt(perEvent(cpu.serverMs) ?? Number.NaN),
        fmt(perEvent(cpu.databaseMs) ?? Number.NaN),
      ],
    ],
    notes: [
      `round trips per event (processWebhookEvent, counted in process): new ${statements.granted}, duplicate ${statements.duplicate}`,
      `lock waits sampled: mean ${fmt(locks.meanLockWaiters)} backends waiting, in ${fmt(locks.shareWithWaiters * 100, 0)}% of samples`,
      ...problems.map((p) => `CHECK FAILED: ${p}`),
    ],
  };
  const targets: TargetResult[] = [
    ceilingTarget(4, "4 webhook ack p99", latency.p99, MAXIMUM_ACK_P99_MS, " ms", true),
    checkTarget(
      4,
      "4 each purchase credited exactly once",
      problems.length === 0,
      problems.join("; ") || "ok",
    ),
  ];
  return {
    tables: [table],
    targets,
    data: {
      deliveries: total,
      uniqueEvents: unique,
      duplicates,
      senders: SENDERS,
      seconds: round(seconds, 2),
      eventsPerSecond: round(total / seconds, 1),
      p50Ms: round(latency.p50, 3),
      p99Ms: round(latency.p99, 3),
      maxMs: round(latency.max, 3),
      byOutcome,
      byStatus,
      problems,
      cpuMsPerEvent: {
        server: cpu.serverMs === null ? null : round(cpu.serverMs / total, 3),
        database: cpu.databaseMs === null ? null : round(cpu.databaseMs / total, 3),
        sender: round(cpu.clientMs / total, 3),
      },
      machineBusyShare: cpu.machineBusyShare,
      locks,
    },
    evidence: { statements },
    ...(problems.length ? { failed: problems.join("; ") } : {}),
  };
}

/** The statements behind one new event and one duplicate, through the same function the route calls. */
async function countEventStatements(ctx: BenchContext, purchase: Purchase, amount: number, currency: string) {
  const event = JSON.parse(succeededEvent("evt_bench_probe_0", purchase, amount, currency)) as Stripe.Event;
  const first = await recordQueries(() => processWebhookEvent(ctx.db, event));
  const again = await recordQueries(() => processWebhookEvent(ctx.db, event));
  return {
    granted: first.queries.length,
    duplicate: again.queries.length,
    grantedStatements: first.queries.map((q) => describeStatement(q.text)),
    outcomes: [first.result, again.result],
  };
}

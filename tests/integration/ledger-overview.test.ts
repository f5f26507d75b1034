import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLedgerOverview } from "../../src/admin/get-ledger-overview";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { compactLedgerAggregates } from "../../src/credits/compact-ledger-aggregates";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { sweepExpiredLots } from "../../src/credits/sweep-expired-lots";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { useDatabaseConnection } from "../../src/db/client";
import { user } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { APP_ORIGIN, appRequest, signUp } from "../support/app-requests";
import { adminOverviewGet, webhookPost } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  chargeObject,
  disputeObject,
  paymentIntentObject,
  signPayload,
  stripeEventPayload,
  testId,
} from "../support/stripe-events";
import { subscribeAndPay } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

/**
 * The operators' overview reads daily aggregates kept by triggers, never the entries. These tests build a
 * ledger through the real paths (purchases and their refund and dispute as signed webhooks, grants of every
 * kind, spends, concurrent spends, a hold, expiry), then recompute every number of the overview from the
 * ledger's own rows here, by the rules the README states, and compare.
 */

const serverEnv = configureServerEnv({ SIGNUP_GIFT_CREDITS: "0" });
afterAll(() => serverEnv.cleanup());

const DAY = 86_400_000;
const PACKAGES = { basic: null, standard: null } as const;

type Entry = { type: string; amount: number; debt_change: number; day: string };

async function rowsOf<T>(database: TestDatabase, query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await database.db.execute(query)) as unknown as { rows: T[] }).rows;
}

/** The overview's numbers, computed from the entries, lots, accounts and purchases directly. */
async function fromTheLedger(database: TestDatabase, from: string, to: string) {
  const entries = (
    await rowsOf<{ type: string; amount: string; debt_change: string; day: string }>(
      database,
      sql`SELECT type, amount, debt_change, (created_at AT TIME ZONE 'UTC')::date::text AS day FROM credit_entry`,
    )
  )
    .map(
      (e): Entry => ({
        type: e.type,
        amount: Number(e.amount),
        debt_change: Number(e.debt_change),
        day: e.day,
      }),
    )
    .filter((e) => e.day >= from && e.day <= to);
  const credited = (types: string[]) =>
    entries.filter((e) => types.includes(e.type) && e.amount > 0).reduce((n, e) => n + e.amount, 0);
  const debited = entries.filter((e) => e.amount < 0);
  const clawbacks = entries.filter((e) => e.type === "refund" || e.type === "dispute");
  const lots = await rowsOf<{ category: string; remaining: string }>(
    database,
    sql`SELECT category, remaining FROM credit_lot`,
  );
  const accounts = await rowsOf<{ balance: string; held: string; debt: string }>(
    database,
    sql`SELECT balance, held, debt FROM credit_account`,
  );
  const purchases = await rowsOf<{
    kind: string;
    package_id: string;
    currency: string;
    amount: number;
    amount_refunded: number;
    day: string;
  }>(
    database,
    sql`SELECT kind, package_id, currency, amount, amount_refunded, (created_at AT TIME ZONE 'UTC')::date::text AS day
        FROM credit_purchase WHERE status = 'succeeded'`,
  );
  const sum = (values: number[]) => values.reduce((n, v) => n + v, 0);
  const byPackage = new Map<
    string,
    { kind: string; id: string; currency: string; purchases: number; amount: number; refunded: number }
  >();
  for (const p of purchases.filter((p) => p.day >= from && p.day <= to)) {
    const key = `${p.kind}/${p.package_id}/${p.currency}`;
    const row = byPackage.get(key) ?? {
      kind: p.kind,
      id: p.package_id,
      currency: p.currency,
      purchases: 0,
      amount: 0,
      refunded: 0,
    };
    row.purchases += 1;
    row.amount += Number(p.amount);
    row.refunded += Number(p.amount_refunded);
    byPackage.set(key, row);
  }
  return {
    sold: credited(["purchase"]),
    granted: {
      gift: credited(["signup_gift"]),
      grant: credited(["grant", "adjustment"]),
      plan: credited(["subscription", "free_plan", "rollover"]),
    },
    consumed: sum(
      debited
        .filter((e) => !["expire", "refund", "dispute", "debt_repayment"].includes(e.type))
        .map((e) => -e.amount),
    ),
    expired: sum(debited.filter((e) => e.type === "expire").map((e) => -e.amount)),
    clawedBack: sum(clawbacks.map((e) => Math.max(-e.amount, 0) + e.debt_change)),
    // Counted in no flow: the debt was counted in clawedBack when it arose.
    debtRepaid: sum(entries.filter((e) => e.type === "debt_repayment").map((e) => -e.debt_change)),
    outstanding: {
      paid: sum(lots.filter((l) => l.category === "paid").map((l) => Number(l.remaining))),
      promotional: sum(lots.filter((l) => l.category === "promotional").map((l) => Number(l.remaining))),
      held: sum(accounts.map((a) => Number(a.held))),
      total: sum(accounts.map((a) => Number(a.balance))),
      debt: sum(accounts.map((a) => Number(a.debt))),
    },
    revenue: [...byPackage.values()].sort((a, b) => `${a.kind}/${a.id}`.localeCompare(`${b.kind}/${b.id}`)),
    activeSubscriptions: Number(
      (
        await rowsOf<{ n: string }>(
          database,
          sql`SELECT count(*) AS n FROM subscription WHERE status IN ('active', 'trialing')`,
        )
      )[0]?.n,
    ),
    dailyConsumed: (day: string) =>
      sum(
        debited
          .filter((e) => e.day === day && !["expire", "refund", "dispute", "debt_repayment"].includes(e.type))
          .map((e) => -e.amount),
      ),
  };
}

describe.each(databaseKinds())("the operators' overview (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
  });
  afterAll(async () => {
    await database?.close();
  });

  async function deliver(type: string, object: Record<string, unknown>, created: number): Promise<number> {
    const payload = stripeEventPayload(type, object, testId("evt"), created);
    const response = await webhookPost(
      new Request(`${APP_ORIGIN}/api/webhooks/stripe`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "stripe-signature": signPayload(payload, webhookSigningSecret()),
        },
        body: payload,
      }),
    );
    return response.status;
  }

  /** A sandbox purchase of `packageId`, paid by a signed payment_intent.succeeded. */
  async function buy(userId: string, packageId: keyof typeof PACKAGES) {
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId,
    });
    const [row] = await rowsOf<{ amount: number; currency: string }>(
      database,
      sql`SELECT amount, currency FROM credit_purchase WHERE id = ${created.purchaseId}`,
    );
    if (!row) throw new Error("no purchase row");
    const pi = created.paymentIntentId;
    const t0 = Math.floor(Date.now() / 1000) - 3600;
    const meta = { purchaseId: created.purchaseId, userId, packageId };
    expect(
      await deliver(
        "payment_intent.succeeded",
        paymentIntentObject({ id: pi, amount: row.amount, currency: row.currency, metadata: meta }),
        t0,
      ),
    ).toBe(200);
    return { pi, t0, ...row };
  }

  it("equals what the ledger says after purchases, grants, spends (some concurrent), a hold, expiry, a refund and a dispute", async () => {
    const db = database.db;
    const carolUser = await signUp(`carol-${randomUUID()}@example.test`);
    const [alice, bob, carol] = [await seedUser(db), await seedUser(db), carolUser.id];
    const first = await buy(alice, "standard");
    const second = await buy(bob, "standard");
    await buy(carol, "basic");

    await addCredits(db, {
      userId: alice,
      amount: 25,
      type: "signup_gift",
      description: "gift",
      idempotencyKey: "gift",
    });
    await addCredits(db, {
      userId: bob,
      amount: 70,
      type: "grant",
      description: "API grant",
      idempotencyKey: "g1",
    });
    // Plan period credits and plan revenue, the way a subscriber gets them: a sandbox subscription paid by card.
    expect((await subscribeAndPay(carolUser)).paidStatus).toBe(200);
    // Granted two days ago, due one day later: the sweep expires it today (two days, two aggregate rows).
    const past = new Date(Date.now() - 2 * DAY);
    await addCredits(
      db,
      {
        userId: carol,
        amount: 40,
        type: "grant",
        description: "short",
        idempotencyKey: "short",
        expiresAt: new Date(past.getTime() + DAY),
      },
      past,
    );
    await consumeCredits(
      db,
      { userId: carol, amount: 5, description: "early", idempotencyKey: "early" },
      new Date(past.getTime() + 60_000),
    );
    await sweepExpiredLots(db);

    // Concurrent spends of one account and of several: every one that commits is counted once.
    const spends = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        consumeCredits(db, {
          userId: [alice, bob, carol][i % 3] as string,
          amount: 7 + (i % 5),
          description: "work",
          idempotencyKey: `work-${i}`,
        }),
      ),
    );
    expect(spends.every((s) => s.ok)).toBe(true);
    await createHold(db, {
      userId: carol,
      amount: 33,
      description: "render",
      idempotencyKey: "h1",
      ttlSeconds: 600,
    });

    // A partial refund of Alice's purchase, and a dispute of Bob's after he spent most of it (a debt remains).
    const charge = (p: typeof first, refunded: number) =>
      chargeObject({
        id: `ch_${p.pi}`,
        amount: p.amount,
        currency: p.currency,
        payment_intent: p.pi,
        amount_refunded: refunded,
      });
    expect(await deliver("charge.refunded", charge(first, Math.floor(first.amount / 2)), first.t0 + 10)).toBe(
      200,
    );
    await consumeCredits(db, { userId: bob, amount: 400, description: "big job", idempotencyKey: "big" });
    expect(
      await deliver(
        "charge.dispute.funds_withdrawn",
        disputeObject({
          id: `dp_${second.pi}`,
          amount: second.amount,
          currency: second.currency,
          charge: `ch_${second.pi}`,
          payment_intent: second.pi,
          status: "needs_response",
        }),
        second.t0 + 20,
      ),
    ).toBe(200);

    const overview = await getLedgerOverview(db, { days: 7 });
    const ledger = await fromTheLedger(database, overview.from, overview.to);
    // The scenario exercised what it meant to: otherwise equal zeros would prove nothing.
    expect(ledger.expired).toBeGreaterThan(0);
    expect(ledger.clawedBack).toBeGreaterThan(0);
    expect(ledger.outstanding.debt).toBeGreaterThan(0);
    expect(ledger.outstanding.held).toBe(33);

    expect(overview.totals.sold).toBe(ledger.sold);
    expect(overview.totals.granted).toEqual({ ...ledger.granted, other: 0 });
    expect(overview.totals.consumed).toBe(ledger.consumed);
    expect(overview.totals.expired).toBe(ledger.expired);
    expect(overview.totals.clawedBack).toBe(ledger.clawedBack);
    expect(overview.totals.debtRepaid).toBe(ledger.debtRepaid);
    const { bySource: _bySource, ...outstanding } = overview.outstanding;
    expect(outstanding).toEqual(ledger.outstanding);
    expect(overview.outstanding.paid + overview.outstanding.promotional + overview.outstanding.held).toBe(
      overview.outstanding.total,
    );
    const revenue = [...overview.revenue.byPackage, ...overview.revenue.byPlan].map(
      ({ kind, id, currency, purchases, amount, refunded }) => ({
        kind,
        id,
        currency,
        purchases,
        amount,
        refunded,
      }),
    );
    revenue.sort((x, y) => `${x.kind}/${x.id}`.localeCompare(`${y.kind}/${y.id}`));
    expect(revenue).toEqual(ledger.revenue);
    expect(overview.revenue.byPlan.length).toBeGreaterThan(0);
    expect(overview.totals.granted.plan).toBeGreaterThan(0);
    expect(overview.subscriptions.active).toBe(ledger.activeSubscriptions);
    expect(overview.subscriptions.active).toBe(1);
    for (const day of overview.daily) expect(day.consumed, day.day).toBe(ledger.dailyConsumed(day.day));
    expect(overview.daily).toHaveLength(7);

    // A range that ends before the early grant's day leaves it out; one that holds only that day has it.
    const earlyDay = past.toISOString().slice(0, 10);
    const early = await getLedgerOverview(db, { from: earlyDay, to: earlyDay });
    expect(early.totals.granted.grant).toBe(
      (await fromTheLedger(database, earlyDay, earlyDay)).granted.grant,
    );
    expect(early.totals.granted.grant).toBeGreaterThanOrEqual(40);
    expect((await verifyLedger(db)).violations).toEqual([]);

    // Folding the deltas into the sums (the sweep job's step) changes no number, and leaves no delta behind.
    expect(await compactLedgerAggregates(db)).toBeGreaterThan(0);
    const [left] = await rowsOf<{ n: string }>(
      database,
      sql`SELECT (SELECT count(*) FROM credit_daily_total_delta) + (SELECT count(*) FROM credit_outstanding_delta)
               + (SELECT count(*) FROM credit_account_total_delta) + (SELECT count(*) FROM purchase_daily_revenue_delta) AS n`,
    );
    expect(Number(left?.n)).toBe(0);
    expect(await getLedgerOverview(db, { days: 7 })).toEqual(overview);
    expect((await verifyLedger(db)).violations).toEqual([]);
  });

  it("verify catches an aggregate that no longer equals the ledger", async () => {
    const db = database.db;
    const userId = await seedUser(db);
    await addCredits(db, { userId, amount: 10, type: "grant", description: "x", idempotencyKey: "t" });
    await compactLedgerAggregates(db);
    expect((await verifyLedger(db)).violations).toEqual([]);
    // One row of each aggregate table, named by its primary key, moved by one and then put back.
    for (const [table, key, column, check] of [
      ["credit_daily_total", "day, entry_type", "credits_in", "daily_totals_match_entries"],
      ["credit_outstanding", "category, source", "remaining", "outstanding_matches_lots"],
      ["credit_account_total", "id", "balance", "account_totals_match_accounts"],
    ] as const) {
      const nudge = (by: number) =>
        db.execute(
          sql.raw(
            `UPDATE ${table} SET ${column} = ${column} + (${by}) WHERE (${key}) = (SELECT ${key} FROM ${table} ORDER BY ${key} LIMIT 1)`,
          ),
        );
      await nudge(1);
      const report = await verifyLedger(db);
      expect(report.violations.map((v) => v.check)).toEqual([check]);
      await nudge(-1);
    }
    // A delta not yet folded is checked as well.
    await addCredits(db, { userId, amount: 5, type: "grant", description: "y", idempotencyKey: "u" });
    await db.execute(sql`UPDATE credit_daily_total_delta SET credits_in = credits_in + 1`);
    expect((await verifyLedger(db)).violations.map((v) => v.check)).toEqual(["daily_totals_match_entries"]);
    await db.execute(sql`UPDATE credit_daily_total_delta SET credits_in = credits_in - 1`);
    // Revenue nobody paid: a row for a package no purchase names.
    await db.execute(
      sql`INSERT INTO purchase_daily_revenue (day, kind, package_id, currency, purchases, amount, refunded)
          VALUES (current_date, 'package', 'ghost', 'usd', 1, 999, 0)`,
    );
    expect((await verifyLedger(db)).violations.map((v) => v.check)).toEqual(["revenue_matches_purchases"]);
    await db.execute(sql`DELETE FROM purchase_daily_revenue WHERE package_id = 'ghost'`);
    expect((await verifyLedger(db)).violations).toEqual([]);
  });

  it("answers operators only: 401 signed out, 404 for a customer (the console is not advertised), 400 for a bad range", async () => {
    const customer = await signUp(`customer-${randomUUID()}@example.test`);
    const admin = await signUp(`ops-${randomUUID()}@example.test`);
    await database.db.update(user).set({ role: "admin", emailVerified: true }).where(eq(user.id, admin.id));
    expect((await adminOverviewGet(appRequest("/api/admin/overview"))).status).toBe(401);
    expect(
      (await adminOverviewGet(appRequest("/api/admin/overview", { cookie: customer.cookie }))).status,
    ).toBe(404);
    const ok = await adminOverviewGet(appRequest("/api/admin/overview?days=90", { cookie: admin.cookie }));
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { days: number; outstanding: { total: number } };
    expect(body.days).toBe(90);
    const [total] = await rowsOf<{ n: string }>(
      database,
      sql`SELECT coalesce(sum(balance), 0) AS n FROM credit_account`,
    );
    expect(body.outstanding.total).toBe(Number(total?.n));
    expect(
      (await adminOverviewGet(appRequest("/api/admin/overview?days=12", { cookie: admin.cookie }))).status,
    ).toBe(400);
    expect(
      (
        await adminOverviewGet(
          appRequest("/api/admin/overview?from=2026-05-02&to=2026-05-01", { cookie: admin.cookie }),
        )
      ).status,
    ).toBe(400);
  });
});

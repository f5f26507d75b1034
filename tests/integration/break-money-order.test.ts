import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditDispute, creditPurchase, sandboxPaymentIntent } from "../../src/db/schema";
import { runPaymentMaintenance } from "../../src/jobs/run-payment-maintenance";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { APP_ORIGIN } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { webhookPost } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  chargeObject,
  disputeObject,
  paymentIntentObject,
  refundObject,
  signPayload,
  stripeEventPayload,
  testId,
} from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

/**
 * A hostile mix of a purchase's refund and dispute events: two dispute ids (an inquiry and a chargeback),
 * refunds that fail and are made again, delivered shuffled, duplicated and all at once. What the customer
 * keeps must follow from the final facts alone, and every signed delivery must be answered 2xx.
 */

const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

/** The Standard package: 500 credits for 3999 cents. */
const PRICE = 3999;

type Event = { type: string; object: Record<string, unknown>; created: number; id: string };

/** A deterministic shuffle (mulberry32), so a failing order can be replayed from its seed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe.each(databaseKinds())(
  "refund and dispute events shuffled, duplicated and concurrent on %s",
  (kind) => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(kind);
      useDatabaseConnection(database);
    });
    afterEach(async () => {
      if (database) await assertLedgerInvariants(database.db);
    });
    afterAll(async () => {
      await database?.close();
    });

    async function purchase() {
      const userId = await seedUser(database.db);
      const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
        userId,
        packageId: "standard",
      });
      const pi = created.paymentIntentId;
      const charge = `ch_for_${pi}`;
      const t0 = Math.floor(Date.now() / 1000) - 3600;
      const event = (type: string, object: Record<string, unknown>, at: number): Event => ({
        type,
        object,
        created: at,
        id: testId("evt"),
      });
      return {
        userId,
        purchaseId: created.purchaseId,
        paymentIntentId: pi,
        t0,
        succeeded: event(
          "payment_intent.succeeded",
          paymentIntentObject({
            id: pi,
            amount: PRICE,
            currency: "usd",
            metadata: { purchaseId: created.purchaseId, userId, packageId: "standard" },
          }),
          t0,
        ),
        dispute: (id: string, type: string, status: string, at: number, amount = PRICE) =>
          event(
            type,
            disputeObject({ id: `${id}_${pi}`, amount, currency: "usd", charge, payment_intent: pi, status }),
            at,
          ),
        chargeRefunded: (amountRefunded: number, at: number) =>
          event(
            "charge.refunded",
            chargeObject({
              id: charge,
              amount: PRICE,
              currency: "usd",
              payment_intent: pi,
              amount_refunded: amountRefunded,
            }),
            at,
          ),
        refund: (
          type: string,
          id: string,
          amount: number,
          status: string,
          at: number,
          refundCreated?: number,
        ) =>
          event(
            type,
            refundObject({
              id: `${id}_${pi}`,
              amount,
              currency: "usd",
              charge,
              payment_intent: pi,
              status,
              ...(refundCreated === undefined ? {} : { created: refundCreated }),
            }),
            at,
          ),
      };
    }

    async function deliver(event: Event): Promise<number> {
      const payload = stripeEventPayload(event.type, event.object, event.id, event.created);
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

    async function deliverAll(events: readonly Event[]): Promise<number[]> {
      const statuses: number[] = [];
      for (const event of events) statuses.push(await deliver(event));
      return statuses;
    }

    /** Delivers events in waves of concurrent requests (what Stripe does when it retries a backlog). */
    async function deliverConcurrently(events: readonly Event[]): Promise<number[]> {
      return Promise.all(events.map((event) => deliver(event)));
    }

    async function kept(userId: string, purchaseId: string) {
      const [row] = await database.db.select().from(creditPurchase).where(eq(creditPurchase.id, purchaseId));
      const balance = await getBalance(database.db, userId);
      return { balance: balance.balance, debt: balance.debt, clawedBack: row?.clawedBackCredits };
    }

    type P = Awaited<ReturnType<typeof purchase>>;

    /** An inquiry (dp_a) that closes, and a chargeback (dp_b) under another id that ends `outcome`. */
    const twoDisputes = (p: P, outcome: "won" | "lost") => [
      p.dispute("dp_a", "charge.dispute.created", "warning_needs_response", p.t0 + 10),
      p.dispute("dp_a", "charge.dispute.updated", "warning_under_review", p.t0 + 12),
      p.dispute("dp_a", "charge.dispute.closed", "warning_closed", p.t0 + 20),
      p.dispute("dp_b", "charge.dispute.created", "needs_response", p.t0 + 20),
      p.dispute("dp_b", "charge.dispute.funds_withdrawn", "needs_response", p.t0 + 20),
      p.dispute("dp_b", "charge.dispute.updated", "under_review", p.t0 + 25),
      p.dispute("dp_b", "charge.dispute.closed", outcome, p.t0 + 40),
      ...(outcome === "won" ? [p.dispute("dp_b", "charge.dispute.funds_reinstated", "won", p.t0 + 40)] : []),
    ];

    it("an inquiry and a chargeback under two ids, shuffled and each delivered twice, end as the chargeback ends", async () => {
      for (const outcome of ["won", "lost"] as const) {
        for (let seed = 1; seed <= 6; seed++) {
          const p = await purchase();
          const events = twoDisputes(p, outcome);
          const order = shuffled([p.succeeded, ...events, ...events, p.succeeded], seed);
          const statuses = await deliverAll(order);
          expect(
            statuses.every((s) => s === 200),
            `statuses ${statuses}`,
          ).toBe(true);
          expect(await kept(p.userId, p.purchaseId), `${outcome} seed ${seed}`).toEqual(
            outcome === "won"
              ? { balance: 500, debt: 0, clawedBack: 0 }
              : { balance: 0, debt: 0, clawedBack: 500 },
          );
        }
      }
    }, 600_000);

    /**
     * A full refund that fails (re_1), made again by a new refund (re_2) that stands, and a chargeback under
     * dp_b that is won: what stands is the second refund, so all 500 credits go.
     */
    const refundFailsThenRedone = (p: P) => [
      p.refund("refund.created", "re_1", PRICE, "pending", p.t0 + 10, p.t0 + 10),
      p.chargeRefunded(PRICE, p.t0 + 10),
      p.refund("refund.updated", "re_1", PRICE, "succeeded", p.t0 + 11, p.t0 + 10),
      p.refund("refund.failed", "re_1", PRICE, "failed", p.t0 + 30, p.t0 + 10),
      p.refund("charge.refund.updated", "re_1", PRICE, "failed", p.t0 + 30, p.t0 + 10),
      p.refund("refund.created", "re_2", PRICE, "pending", p.t0 + 50, p.t0 + 50),
      p.chargeRefunded(PRICE, p.t0 + 50),
      p.refund("refund.updated", "re_2", PRICE, "succeeded", p.t0 + 51, p.t0 + 50),
    ];

    it("a refund that fails and is made again by a new refund takes 500 credits, in any shuffled, duplicated order", async () => {
      for (let seed = 1; seed <= 8; seed++) {
        const p = await purchase();
        const events = refundFailsThenRedone(p);
        const statuses = await deliverAll(shuffled([p.succeeded, ...events, ...events.slice(0, 4)], seed));
        expect(
          statuses.every((s) => s === 200),
          `statuses ${statuses}`,
        ).toBe(true);
        expect(await kept(p.userId, p.purchaseId), `seed ${seed}`).toEqual({
          balance: 0,
          debt: 0,
          clawedBack: 500,
        });
      }
    }, 600_000);

    it("a partial refund and a lost chargeback for the rest take all 500 credits, whatever the order", async () => {
      for (let seed = 1; seed <= 6; seed++) {
        const p = await purchase();
        const events = [
          p.refund("refund.created", "re_1", 2000, "succeeded", p.t0 + 10, p.t0 + 10),
          p.chargeRefunded(2000, p.t0 + 10),
          p.dispute("dp_b", "charge.dispute.created", "needs_response", p.t0 + 20, PRICE - 2000),
          p.dispute("dp_b", "charge.dispute.funds_withdrawn", "needs_response", p.t0 + 20, PRICE - 2000),
          p.dispute("dp_b", "charge.dispute.closed", "lost", p.t0 + 40, PRICE - 2000),
        ];
        await deliverAll(shuffled([p.succeeded, ...events, ...events], seed));
        expect(await kept(p.userId, p.purchaseId), `seed ${seed}`).toEqual({
          balance: 0,
          debt: 0,
          clawedBack: 500,
        });
      }
    }, 600_000);

    it("all of a purchase's events delivered at once, each twice, end as when delivered one by one", async () => {
      for (const outcome of ["won", "lost"] as const) {
        for (let round = 0; round < 3; round++) {
          const p = await purchase();
          const events = [
            p.succeeded,
            ...twoDisputes(p, outcome),
            p.refund("refund.created", "re_1", 1000, "pending", p.t0 + 10, p.t0 + 10),
            p.chargeRefunded(1000, p.t0 + 10),
            p.refund("refund.failed", "re_1", 1000, "failed", p.t0 + 30, p.t0 + 10),
          ];
          const statuses = await deliverConcurrently([...events, ...events]);
          expect(
            statuses.every((s) => s === 200),
            `statuses ${statuses}`,
          ).toBe(true);
          expect(await kept(p.userId, p.purchaseId), `${outcome} round ${round}`).toEqual(
            outcome === "won"
              ? { balance: 500, debt: 0, clawedBack: 0 }
              : { balance: 0, debt: 0, clawedBack: 500 },
          );
        }
      }
    }, 600_000);

    it("a chargeback recorded before disputes had ids, won after an inquiry's late event, gives the credits back", async () => {
      const p = await purchase();
      await deliverAll([
        p.succeeded,
        p.dispute("dp_b", "charge.dispute.funds_withdrawn", "needs_response", p.t0 + 20),
      ]);
      expect(await kept(p.userId, p.purchaseId)).toEqual({ balance: 0, debt: 0, clawedBack: 500 });
      // As migration 0009 left it: the purchase's one dispute fact, under a placeholder id.
      await database.db
        .update(creditDispute)
        .set({ disputeId: `legacy:${p.purchaseId}` })
        .where(eq(creditDispute.purchaseId, p.purchaseId));
      // An inquiry's event from before the chargeback arrives late (Stripe's retry, or an operator retrying
      // a stored failed webhook), then the chargeback is won.
      const statuses = await deliverAll([
        p.dispute("dp_a", "charge.dispute.closed", "warning_closed", p.t0 + 10),
        p.dispute("dp_b", "charge.dispute.funds_reinstated", "won", p.t0 + 40),
        p.dispute("dp_b", "charge.dispute.closed", "won", p.t0 + 40),
      ]);
      expect(statuses).toEqual([200, 200, 200]);
      expect(await kept(p.userId, p.purchaseId)).toEqual({ balance: 500, debt: 0, clawedBack: 0 });
    });

    it("a customer paying in the sandbox while the maintenance job abandons the purchase is either granted or refused, never paid for nothing", async () => {
      const provider = new SandboxPaymentProvider(database.db);
      for (let round = 0; round < 6; round++) {
        const p = await purchase();
        await database.db.execute(
          sql`UPDATE credit_purchase SET created_at = now() - interval '2 days' WHERE id = ${p.purchaseId}`,
        );
        const [confirmed] = await Promise.allSettled([
          confirmSandboxPayment(database.db, {
            paymentIntentId: p.paymentIntentId,
            userId: p.userId,
            cardNumber: "4242 4242 4242 4242",
            webhookSecret: webhookSigningSecret(),
          }),
          runPaymentMaintenance(database.db, provider),
        ]);
        const [row] = await database.db
          .select()
          .from(creditPurchase)
          .where(eq(creditPurchase.id, p.purchaseId));
        const [intent] = await database.db
          .select({ status: sandboxPaymentIntent.status })
          .from(sandboxPaymentIntent)
          .where(eq(sandboxPaymentIntent.id, p.paymentIntentId));
        const balance = (await getBalance(database.db, p.userId)).balance;
        if (confirmed.status === "fulfilled") {
          expect(intent?.status, `round ${round}`).toBe("succeeded");
          expect({ status: row?.status, balance }, `round ${round}`).toEqual({
            status: "succeeded",
            balance: 500,
          });
        } else {
          expect(intent?.status, `round ${round}`).toBe("canceled");
          expect({ status: row?.status, balance }, `round ${round}`).toEqual({
            status: "abandoned",
            balance: 0,
          });
        }
      }
    }, 600_000);

    it("two purchases of one customer disputed and refunded while the customer spends, all at once: every credit accounted for", async () => {
      for (let round = 0; round < 3; round++) {
        const a = await purchase();
        // A second purchase of the same customer.
        const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
          userId: a.userId,
          packageId: "standard",
        });
        const b = {
          ...a,
          purchaseId: created.purchaseId,
          succeeded: {
            ...a.succeeded,
            id: testId("evt"),
            object: paymentIntentObject({
              id: created.paymentIntentId,
              amount: PRICE,
              currency: "usd",
              metadata: { purchaseId: created.purchaseId, userId: a.userId, packageId: "standard" },
            }),
          },
          refundFull: {
            type: "charge.refunded",
            id: testId("evt"),
            created: a.t0 + 30,
            object: chargeObject({
              id: `ch_for_${created.paymentIntentId}`,
              amount: PRICE,
              currency: "usd",
              payment_intent: created.paymentIntentId,
              amount_refunded: PRICE,
            }),
          },
        };
        await deliverAll([a.succeeded, b.succeeded]);
        const spends = Array.from({ length: 6 }, (_, i) =>
          consumeCredits(database.db, {
            userId: a.userId,
            amount: 150,
            description: "work",
            idempotencyKey: `spend-${round}-${i}`,
          }),
        );
        const deliveries = deliverConcurrently([
          a.dispute("dp_b", "charge.dispute.funds_withdrawn", "needs_response", a.t0 + 20),
          a.dispute("dp_b", "charge.dispute.closed", "lost", a.t0 + 40),
          b.refundFull,
          b.refundFull,
        ]);
        const [spent, statuses] = await Promise.all([Promise.all(spends), deliveries]);
        expect(statuses).toEqual([200, 200, 200, 200]);
        const paidFor = spent.filter((result) => result.ok).length * 150;
        const balance = await getBalance(database.db, a.userId);
        // 1000 bought, 1000 taken back: what was spent is owed, nothing more and nothing less.
        expect({ balance: balance.balance, debt: balance.debt }, `round ${round}`).toEqual({
          balance: 0,
          debt: paidFor,
        });
      }
    }, 600_000);

    it("a maintenance run while the payment's webhook arrives grants the stale purchase once", async () => {
      const provider = new SandboxPaymentProvider(database.db);
      for (let round = 0; round < 4; round++) {
        const p = await purchase();
        // The pay dialog was opened two days ago; the customer pays just as the maintenance job runs.
        await database.db.execute(
          sql`UPDATE credit_purchase SET created_at = now() - interval '2 days' WHERE id = ${p.purchaseId}`,
        );
        const [status] = await Promise.all([
          deliver(p.succeeded),
          runPaymentMaintenance(database.db, provider),
          deliver(p.succeeded),
        ]);
        expect(status).toBe(200);
        const [row] = await database.db
          .select()
          .from(creditPurchase)
          .where(eq(creditPurchase.id, p.purchaseId));
        expect(row?.status, `round ${round}`).toBe("succeeded");
        expect(await kept(p.userId, p.purchaseId)).toEqual({ balance: 500, debt: 0, clawedBack: 0 });
      }
    }, 600_000);
  },
);

import { desc, eq } from "drizzle-orm";
import fc from "fast-check";
import type Stripe from "stripe";
import { afterEach, describe, expect, it, vi } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { clawBackCredits } from "../../src/credits/claw-back-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { HoldNotOpenError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import {
  clawbackTarget,
  type DisputeRecord,
  disputedAmount,
  isFailedRefundStatus,
  isNewerDisputeFact,
  type RefundFact,
  refundedAmount,
  refundStatusRank,
} from "../../src/credits/purchase-clawback-rules";
import { releaseHold } from "../../src/credits/release-hold";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { creditLot, creditPurchase } from "../../src/db/schema";
import { runSweep } from "../../src/jobs/run-sweep";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { processWebhookEvent } from "../../src/payment/webhooks/process-webhook-event";
import { seedUser } from "../support/seed";
import {
  chargeObject,
  disputeObject,
  paymentIntentObject,
  refundObject,
  stripeEventPayload,
  testId,
} from "../support/stripe-events";
import { databaseKinds, useTestDatabase } from "../support/test-database";

/**
 * Random sequences of ledger operations run against the real implementation and against a small
 * in-memory model of the rules (draw order, holds, expiry, clawbacks and debt). After every step the
 * balance, held, available and debt must agree, and so must every operation's outcome.
 *
 * Purchases take part too: each one has a simulated history at Stripe (refunds issued, succeeding or
 * failing; a dispute opened, reviewed, won or lost; an inquiry), which becomes the events Stripe would
 * send. Those events are delivered through the real webhook processing in a random order, some of them
 * repeatedly, between the other operations. After every sequence every event is delivered once more,
 * and what the ledger took back must be what the simulated history's final facts imply (the amount
 * refunded and not failed, whether the dispute has the funds), whatever order the events came in.
 *
 * The model's rules, all of them:
 * - Spends, holds and clawbacks draw the soonest-expiring lots first, never-expiring last, oldest first.
 * - An expired lot is never spendable; held credits whose lot expires expire with it (the hold keeps
 *   only what is left, and capture never spends credits whose lot has expired).
 * - A clawback takes the purchase's own lots first (in spending order), then other lots; what it cannot
 *   take becomes debt. Credits reserved by open holds are not taken.
 * - Every credit that comes back (a grant, a reinstatement, a hold's release, a capture's remainder, a
 *   hold's expiry) repays outstanding debt first.
 * - A purchase's clawback target is the share of its price refunded or withdrawn by disputes (rounded
 *   down; each dispute id judged by its own newest fact, so an inquiry closing does not hide a chargeback
 *   opened under another id); each event moves the ledger to the target its facts imply at that moment.
 * - A failed refund stops counting from its failure on: a charge figure taken at the second of the failure
 *   or later (a new refund made right after it) does not include it.
 */

const HOUR = 3_600_000;
/** The Basic package: 100 credits for 999 cents, never expiring. */
const PACKAGE = { id: "basic", credits: 100, price: 999 } as const;

/** One moment of a purchase's simulated history at Stripe. Invalid moments (for the state) are skipped. */
type Moment =
  | { k: "refund"; amount: number; sameSecond: boolean }
  | { k: "refundSucceeds"; which: number }
  /** retry: the merchant refunds the failed amount again at once (a new refund in the same second). */
  | { k: "refundFails"; which: number; via: number; retry: boolean }
  | {
      k: "dispute";
      phase: "inquiry" | "inquiryReview" | "inquiryClose" | "open" | "review" | "won" | "lost";
      sameSecond?: boolean;
    };

type Op =
  | { kind: "grant"; amount: number; expireHours: number | null }
  | { kind: "consume"; amount: number }
  | { kind: "hold"; amount: number; ttlHours: number }
  | { kind: "capture"; hold: number; fraction: number }
  | { kind: "release"; hold: number }
  | { kind: "clawback"; amount: number; lot: number }
  | { kind: "advance"; hours: number }
  | { kind: "sweep" }
  | { kind: "purchase"; history: Moment[] }
  | { kind: "deliver"; purchase: number; event: number };

const momentArb: fc.Arbitrary<Moment> = fc.oneof(
  {
    weight: 3,
    // sameSecond: made in the same second as the moment before (a refund right after another one failed).
    arbitrary: fc.record({
      k: fc.constant("refund" as const),
      amount: fc.integer({ min: 1, max: 999 }),
      sameSecond: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("refundSucceeds" as const), which: fc.nat(5) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("refundFails" as const),
      which: fc.nat(5),
      via: fc.nat(2),
      retry: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("dispute" as const),
      phase: fc.constantFrom("inquiry", "inquiryReview", "inquiryClose", "open", "review", "won", "lost"),
    }),
  },
);

type DisputePhase = Extract<Moment, { k: "dispute" }>["phase"];
const DISPUTE_PLANS: readonly (readonly DisputePhase[])[] = [
  [],
  ["inquiry"],
  ["inquiry", "inquiryReview", "inquiryClose"],
  ["inquiry", "open", "review", "won"],
  ["open"],
  ["open", "review"],
  ["open", "won"],
  ["open", "review", "won"],
  ["open", "lost"],
  ["open", "review", "lost"],
  // An inquiry that closes, then a chargeback under a new dispute id (at the same second or later).
  ["inquiry", "inquiryClose", "open", "lost"],
  ["inquiry", "inquiryClose", "open", "review", "won"],
];

/** A purchase's history: refunds issued, succeeding and failing, with a dispute's lifecycle woven in. */
const historyArb: fc.Arbitrary<Moment[]> = fc
  .record({
    refunds: fc.array(
      momentArb.filter((m) => m.k !== "dispute"),
      { maxLength: 6 },
    ),
    plan: fc.constantFrom(...DISPUTE_PLANS),
    positions: fc.array(fc.nat(8), { minLength: 5, maxLength: 5 }),
  })
  .map(({ refunds, plan, positions }) => {
    const moments: Moment[] = [...refunds];
    const at = positions.slice(0, plan.length).sort((a, b) => a - b);
    plan.forEach((phase, i) => {
      const sameSecond = phase === "open" && plan[i - 1] === "inquiryClose" && (positions[i] ?? 0) % 2 === 0;
      moments.splice(Math.min((at[i] ?? 0) + i, moments.length), 0, { k: "dispute", phase, sameSecond });
    });
    return moments;
  });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("grant" as const),
      amount: fc.integer({ min: 1, max: 100 }),
      expireHours: fc.option(fc.integer({ min: 1, max: 72 }), { nil: null }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("consume" as const), amount: fc.integer({ min: 1, max: 120 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("hold" as const),
      amount: fc.integer({ min: 1, max: 80 }),
      ttlHours: fc.integer({ min: 1, max: 48 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("capture" as const),
      hold: fc.nat(20),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("release" as const), hold: fc.nat(20) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("clawback" as const),
      amount: fc.integer({ min: 1, max: 150 }),
      lot: fc.nat(20),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), hours: fc.integer({ min: 1, max: 40 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("sweep" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("purchase" as const), history: historyArb }) },
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant("deliver" as const), purchase: fc.nat(5), event: fc.nat(40) }),
  },
);

type SimEvent = { id: string; type: string; created: number; object: Record<string, unknown> };

/**
 * Plays a purchase's history the way Stripe would live it and returns the events Stripe sends, plus the
 * final facts: the amount refunded and not failed, and the amount disputes hold. A charge event's
 * `amount_refunded` counts the refunds that have not failed at its time. An inquiry that closed is
 * followed by a chargeback under a new dispute id.
 */
function simulateStripe(
  history: readonly Moment[],
  ids: { paymentIntentId: string; purchaseId: string; userId: string },
  start: number,
): { events: SimEvent[]; refunded: number; withdrawn: number } {
  const charge = `ch_${ids.paymentIntentId}`;
  const events: SimEvent[] = [];
  const emit = (type: string, object: Record<string, unknown>, created: number) =>
    events.push({ id: testId("evt"), type, object, created });
  emit(
    "payment_intent.succeeded",
    paymentIntentObject({
      id: ids.paymentIntentId,
      amount: PACKAGE.price,
      currency: "usd",
      metadata: { purchaseId: ids.purchaseId, userId: ids.userId, packageId: PACKAGE.id },
    }),
    start,
  );
  const refunds: { id: string; amount: number; status: string; created: number }[] = [];
  const active = () => refunds.filter((r) => r.status !== "failed").reduce((sum, r) => sum + r.amount, 0);
  type DisputeState = "none" | "inquiry" | "inquiryClosed" | "open" | "won" | "lost";
  let dispute = "none" as DisputeState;
  let disputeId = `dp_${ids.paymentIntentId}`;
  const disputeEvent = (type: string, status: string, created: number) =>
    emit(
      type,
      disputeObject({
        id: disputeId,
        amount: PACKAGE.price,
        currency: "usd",
        charge,
        payment_intent: ids.paymentIntentId,
        status,
      }),
      created,
    );
  const refundEvent = (
    type: string,
    refund: { id: string; amount: number; status: string; created: number },
    created: number,
  ) =>
    emit(
      type,
      refundObject({ ...refund, currency: "usd", charge, payment_intent: ids.paymentIntentId }),
      created,
    );

  let t = start;
  history.forEach((moment, index) => {
    if (!(moment.k !== "refundSucceeds" && moment.k !== "refundFails" && moment.sameSecond && index > 0))
      t += 10;
    if (moment.k === "refund") {
      const left = PACKAGE.price - active();
      if (left <= 0) return;
      const refund = {
        id: `re_${ids.purchaseId}_${index}`,
        amount: 1 + ((moment.amount - 1) % left),
        status: "pending",
        created: t,
      };
      refunds.push(refund);
      refundEvent("refund.created", refund, t);
      emit(
        "charge.refunded",
        chargeObject({
          id: charge,
          amount: PACKAGE.price,
          currency: "usd",
          payment_intent: ids.paymentIntentId,
          amount_refunded: active(),
        }),
        t,
      );
    } else if (moment.k === "refundSucceeds" || moment.k === "refundFails") {
      const refund = refunds.length > 0 ? refunds[moment.which % refunds.length] : undefined;
      if (!refund || refund.status === "failed") return;
      if (moment.k === "refundSucceeds") {
        if (refund.status !== "pending") return;
        refund.status = "succeeded";
        refundEvent("charge.refund.updated", refund, t);
      } else {
        refund.status = "failed";
        refundEvent(
          ["charge.refund.updated", "refund.failed", "refund.updated"][moment.via] ?? "refund.failed",
          refund,
          t,
        );
        if (moment.retry) {
          // The charge's figure taken now, after the failure, leaves the failed refund out. No refund.created
          // for it: an endpoint need not subscribe to refund events, so the charge's figure alone must do.
          refunds.push({ id: `${refund.id}_again`, amount: refund.amount, status: "pending", created: t });
          emit(
            "charge.refunded",
            chargeObject({
              id: charge,
              amount: PACKAGE.price,
              currency: "usd",
              payment_intent: ids.paymentIntentId,
              amount_refunded: active(),
            }),
            t,
          );
        }
      }
    } else {
      const phase = moment.phase;
      if (phase === "inquiry" && dispute === "none") {
        dispute = "inquiry";
        disputeEvent("charge.dispute.created", "warning_needs_response", t);
      } else if (phase === "inquiryReview" && dispute === "inquiry") {
        disputeEvent("charge.dispute.updated", "warning_under_review", t);
      } else if (phase === "inquiryClose" && dispute === "inquiry") {
        dispute = "inquiryClosed";
        disputeEvent("charge.dispute.closed", "warning_closed", t);
      } else if (
        phase === "open" &&
        (dispute === "none" || dispute === "inquiry" || dispute === "inquiryClosed")
      ) {
        // A closed inquiry is done with: a chargeback that follows is a new dispute, with an id of its own.
        if (dispute === "inquiryClosed") {
          disputeId = `dp_${ids.paymentIntentId}_chargeback`;
          dispute = "none";
        }
        disputeEvent(
          dispute === "none" ? "charge.dispute.created" : "charge.dispute.updated",
          "needs_response",
          t,
        );
        disputeEvent("charge.dispute.funds_withdrawn", "needs_response", t);
        dispute = "open";
      } else if (phase === "review" && dispute === "open") {
        disputeEvent("charge.dispute.updated", "under_review", t);
      } else if (phase === "won" && dispute === "open") {
        dispute = "won";
        disputeEvent("charge.dispute.closed", "won", t);
        disputeEvent("charge.dispute.funds_reinstated", "won", t);
      } else if (phase === "lost" && dispute === "open") {
        dispute = "lost";
        disputeEvent("charge.dispute.closed", "lost", t);
      }
    }
  });
  return {
    events,
    refunded: active(),
    withdrawn: dispute === "open" || dispute === "lost" ? PACKAGE.price : 0,
  };
}

type ModelLot = { id: string; seq: number; remaining: number; expiresAt: number | null; createdAt: number };
type ModelHold = {
  id: string;
  amount: number;
  draws: { lot: ModelLot; amount: number }[];
  expiresAt: number;
  open: boolean;
  closedAs?: { kind: "capture" | "release" | "expired"; keep: number };
};

const isLive = (lot: ModelLot, now: number) => lot.expiresAt === null || lot.expiresAt > now;
const spendingOrder = (a: ModelLot, b: ModelLot) =>
  (a.expiresAt ?? Number.POSITIVE_INFINITY) - (b.expiresAt ?? Number.POSITIVE_INFINITY) ||
  a.createdAt - b.createdAt ||
  a.seq - b.seq;

class Model {
  lots: ModelLot[] = [];
  holds: ModelHold[] = [];
  debt = 0;
  private seq = 0;

  private live(now: number) {
    return this.lots.filter((lot) => lot.remaining > 0 && isLive(lot, now)).sort(spendingOrder);
  }
  /** Expired lots lose what is left in them, and so do the open holds' credits drawn from them. */
  private expire(now: number) {
    for (const lot of this.lots) if (!isLive(lot, now)) lot.remaining = 0;
    for (const hold of this.holds) {
      if (!hold.open) continue;
      for (const draw of hold.draws) if (!isLive(draw.lot, now)) draw.amount = 0;
    }
  }
  available(now: number) {
    return this.live(now).reduce((sum, lot) => sum + lot.remaining, 0);
  }
  held(now: number) {
    return this.holds
      .filter((hold) => hold.open)
      .flatMap((hold) => hold.draws)
      .filter((draw) => isLive(draw.lot, now))
      .reduce((sum, draw) => sum + draw.amount, 0);
  }
  balance(now: number) {
    return this.available(now) + this.held(now);
  }
  private draw(amount: number, now: number) {
    const draws: { lot: ModelLot; amount: number }[] = [];
    let left = amount;
    for (const lot of this.live(now)) {
      const take = Math.min(lot.remaining, left);
      if (take === 0) break;
      lot.remaining -= take;
      left -= take;
      draws.push({ lot, amount: take });
    }
    return draws;
  }
  /** Credits coming back to lots repay debt first, taken from them in the order given. */
  private repayFrom(draws: readonly { lot: ModelLot; amount: number }[]) {
    for (const draw of draws) {
      const repay = Math.min(this.debt, draw.amount);
      draw.lot.remaining -= repay;
      this.debt -= repay;
    }
  }
  grant(id: string, amount: number, expiresAt: number | null, now: number): ModelLot {
    this.expire(now);
    const lot = { id, seq: this.seq++, remaining: amount, expiresAt, createdAt: now };
    this.lots.push(lot);
    this.repayFrom([{ lot, amount }]);
    return lot;
  }
  consume(amount: number, now: number): boolean {
    this.expire(now);
    if (this.available(now) < amount) return false;
    this.draw(amount, now);
    return true;
  }
  hold(id: string, amount: number, expiresAt: number, now: number): boolean {
    this.expire(now);
    if (this.available(now) < amount) return false;
    this.holds.push({ id, amount, draws: this.draw(amount, now), expiresAt, open: true });
    return true;
  }
  settle(hold: ModelHold, keep: number, now: number, kind: "capture" | "release" | "expired") {
    this.expire(now);
    hold.closedAs = { kind, keep };
    let left = keep;
    const returned: { lot: ModelLot; amount: number }[] = [];
    for (const draw of hold.draws) {
      const kept = Math.min(draw.amount, left);
      left -= kept;
      if (draw.amount - kept > 0) {
        draw.lot.remaining += draw.amount - kept;
        returned.push({ lot: draw.lot, amount: draw.amount - kept });
      }
    }
    hold.open = false;
    this.repayFrom(returned);
  }
  clawback(amount: number, preferred: readonly ModelLot[], now: number) {
    this.expire(now);
    let left = amount;
    for (const lot of [...preferred].filter((l) => l.remaining > 0 && isLive(l, now)).sort(spendingOrder)) {
      const take = Math.min(lot.remaining, left);
      lot.remaining -= take;
      left -= take;
    }
    const fromOthers = Math.min(left, this.available(now));
    this.draw(fromOthers, now);
    left -= fromOthers;
    this.debt += left;
  }
  sweep(now: number) {
    this.expire(now);
    for (const hold of this.holds)
      if (hold.open && hold.expiresAt <= now) this.settle(hold, 0, now, "expired");
  }
}

/** What the model knows of one purchase: the facts of the events delivered so far. */
type ModelPurchase = {
  purchaseId: string;
  events: SimEvent[];
  final: { refunded: number; withdrawn: number };
  delivered: Set<string>;
  granted: boolean;
  clawedBack: number;
  lots: ModelLot[];
  charge: { amount: number; at: Date } | null;
  refunds: Map<string, RefundFact>;
  disputes: Map<string, DisputeRecord>;
};

/** The target the delivered facts imply (the same rules the handlers follow). */
function targetOf(purchase: ModelPurchase): number {
  const refunded = refundedAmount({
    price: PACKAGE.price,
    chargeAmountRefunded: purchase.charge?.amount ?? 0,
    chargeRefundedAt: purchase.charge?.at ?? null,
    refunds: [...purchase.refunds.values()],
  });
  return clawbackTarget({
    credits: PACKAGE.credits,
    amount: PACKAGE.price,
    amountRefunded: refunded,
    amountDisputed: disputedAmount([...purchase.disputes.values()]),
    // The package never expires: none of its credits can expire unused.
    expiredUnused: 0,
  });
}

/** Records an event's fact in the model when it is newer than what the model knows. */
function learn(purchase: ModelPurchase, event: SimEvent) {
  const at = new Date(event.created * 1000);
  if (event.type === "payment_intent.succeeded") purchase.granted = true;
  else if (event.type === "charge.refunded") {
    const amount = event.object.amount_refunded as number;
    const known = purchase.charge;
    if (!known || at > known.at || (at.getTime() === known.at.getTime() && amount > known.amount))
      purchase.charge = { amount, at };
  } else if (event.type.startsWith("charge.dispute.")) {
    const id = event.object.id as string;
    const fact = {
      status: event.object.status as string,
      eventType: event.type,
      at,
      amount: event.object.amount as number,
    };
    if (isNewerDisputeFact(fact, purchase.disputes.get(id) ?? null)) purchase.disputes.set(id, fact);
  } else {
    const id = event.object.id as string;
    const status = event.object.status as string;
    const known = purchase.refunds.get(id);
    const failedAt = isFailedRefundStatus(status) ? at : null;
    const earliestFailure =
      known?.failedAt && (!failedAt || known.failedAt < failedAt) ? known.failedAt : failedAt;
    const refundCreatedAt = new Date((event.object.created as number) * 1000);
    if (
      !known ||
      at > known.statusAt ||
      (at.getTime() === known.statusAt.getTime() && refundStatusRank(status) > refundStatusRank(known.status))
    )
      purchase.refunds.set(id, {
        amount: event.object.amount as number,
        status,
        statusAt: at,
        refundCreatedAt,
        failedAt: earliestFailure,
      });
    else purchase.refunds.set(id, { ...known, failedAt: earliestFailure });
  }
}

describe.each(databaseKinds())("ledger against a model on %s", (kind) => {
  const database = useTestDatabase(kind);
  afterEach(() => {
    vi.useRealTimers();
  });

  it("agrees with the model after every step of random operation sequences", async () => {
    // CI replays one fixed seed per database, so its verdict depends on the code alone; every other run
    // draws a new seed (printed above the result), which is how new counterexamples are found. The
    // PostgreSQL seed is the one that found webhooks judging expiry by another clock than the model's.
    const ciSeed = kind === "pglite" ? 738185394 : 738981634;
    const seed = Number(process.env.PROPERTY_SEED ?? (process.env.CI ? ciSeed : Date.now() % 2 ** 31));
    console.log(`ledger model property: seed ${seed} (rerun with PROPERTY_SEED=${seed})`);
    await fc.assert(
      fc.asyncProperty(
        fc.array(historyArb, { minLength: 1, maxLength: 3 }),
        fc.array(opArb, { minLength: 5, maxLength: 30 }),
        fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
        async (histories, laterOps, flushOrder) => {
          // Purchases bought before the other operations, and (the `purchase` operation) in between.
          const ops: Op[] = [
            ...histories.map((history) => ({ kind: "purchase" as const, history })),
            ...laterOps,
          ];
          const db = database.db;
          const userId = await seedUser(db);
          const model = new Model();
          const purchases: ModelPurchase[] = [];
          let now = Date.UTC(2032, 0, 1);
          // Webhook processing takes the time from the clock: the clock follows the simulated time.
          vi.useFakeTimers({ toFake: ["Date"] });
          vi.setSystemTime(now);
          let step = 0;

          const deliver = async (purchase: ModelPurchase, event: SimEvent, label: string) => {
            const body = JSON.parse(stripeEventPayload(event.type, event.object, event.id, event.created));
            // The simulated time, as every other operation gets it: the database's own clock stays in the present,
            // so without it a webhook's clawback would still see lots the model has expired (seed 738981634).
            const outcome = await processWebhookEvent(db, body as Stripe.Event, { now: new Date(now) });
            if (purchase.delivered.has(event.id)) {
              expect(outcome, `${label}: a repeated event`).toBe("duplicate");
              return;
            }
            purchase.delivered.add(event.id);
            const wasGranted = purchase.granted;
            learn(purchase, event);
            if (!purchase.granted) return;
            if (!wasGranted) {
              const [lot] = await db
                .select({ id: creditLot.id })
                .from(creditLot)
                .where(eq(creditLot.purchaseId, purchase.purchaseId));
              purchase.lots.push(model.grant(lot?.id ?? "", PACKAGE.credits, null, now));
            }
            const target = targetOf(purchase);
            if (target > purchase.clawedBack)
              model.clawback(target - purchase.clawedBack, purchase.lots, now);
            if (target < purchase.clawedBack) {
              // A reinstatement: a new lot for the purchase, the newest one.
              const [lot] = await db
                .select({ id: creditLot.id })
                .from(creditLot)
                .where(eq(creditLot.purchaseId, purchase.purchaseId))
                .orderBy(desc(creditLot.grantEntryId))
                .limit(1);
              purchase.lots.push(model.grant(lot?.id ?? "", purchase.clawedBack - target, null, now));
            }
            purchase.clawedBack = target;
          };

          const compare = async (label: string) => {
            const actual = await getBalance(db, userId, new Date(now));
            expect(actual, label).toEqual({
              balance: model.balance(now),
              held: model.held(now),
              available: model.available(now),
              debt: model.debt,
            });
          };

          for (const op of ops) {
            step++;
            const key = `op-${step}`;
            const at = new Date(now);
            vi.setSystemTime(now);
            switch (op.kind) {
              case "grant": {
                const expiresAt = op.expireHours === null ? null : now + op.expireHours * HOUR;
                const result = await addCredits(
                  db,
                  {
                    userId,
                    amount: op.amount,
                    type: "grant",
                    description: "g",
                    idempotencyKey: key,
                    ...(expiresAt ? { expiresAt: new Date(expiresAt) } : {}),
                  },
                  at,
                );
                model.grant(result.lotId, op.amount, expiresAt, now);
                break;
              }
              case "consume": {
                const result = await consumeCredits(
                  db,
                  { userId, amount: op.amount, description: "c", idempotencyKey: key },
                  at,
                );
                expect(result.ok, `step ${step} consume ${op.amount}`).toBe(model.consume(op.amount, now));
                break;
              }
              case "hold": {
                const expiresAt = now + op.ttlHours * HOUR;
                const result = await createHold(
                  db,
                  {
                    userId,
                    amount: op.amount,
                    description: "h",
                    idempotencyKey: key,
                    ttlSeconds: op.ttlHours * 3600,
                  },
                  at,
                );
                const modelOk = model.hold(result.ok ? result.holdId : "", op.amount, expiresAt, now);
                expect(result.ok, `step ${step} hold ${op.amount}`).toBe(modelOk);
                break;
              }
              case "capture":
              case "release": {
                const hold = model.holds[op.hold % Math.max(model.holds.length, 1)];
                if (!hold) break;
                const keep = op.kind === "capture" ? Math.floor(hold.amount * op.fraction) : 0;
                // Settling again the same way replays; any other settlement of a closed hold is refused.
                const repeat = !hold.open && hold.closedAs?.kind === op.kind && hold.closedAs.keep === keep;
                const expectOk = (hold.open && (op.kind === "release" || hold.expiresAt > now)) || repeat;
                // What is left of the hold after its expired lots: capture never spends expired credits.
                const capturable = Math.min(
                  keep,
                  hold.draws.filter((d) => isLive(d.lot, now)).reduce((s, d) => s + d.amount, 0),
                );
                try {
                  if (op.kind === "capture") await captureHold(db, { holdId: hold.id, amount: keep }, at);
                  else await releaseHold(db, { holdId: hold.id }, at);
                  expect(expectOk, `step ${step} ${op.kind} should have been refused`).toBe(true);
                  if (hold.open) model.settle(hold, capturable, now, op.kind);
                } catch (error) {
                  if (!(error instanceof HoldNotOpenError)) throw error;
                  expect(expectOk, `step ${step} ${op.kind} was refused`).toBe(false);
                  if (hold.open) model.settle(hold, 0, now, "expired"); // expired at capture time: released
                }
                break;
              }
              case "clawback": {
                const lot = model.lots[op.lot % Math.max(model.lots.length, 1)];
                await clawBackCredits(
                  db,
                  {
                    userId,
                    amount: op.amount,
                    type: "refund",
                    description: "r",
                    idempotencyKey: key,
                    preferLotIds: lot ? [lot.id] : [],
                  },
                  at,
                );
                model.clawback(op.amount, lot ? [lot] : [], now);
                break;
              }
              case "advance":
                now += op.hours * HOUR;
                break;
              case "sweep":
                await runSweep(db, at);
                model.sweep(now);
                break;
              case "purchase": {
                const created = await createCreditPurchase(db, new SandboxPaymentProvider(db), {
                  userId,
                  packageId: PACKAGE.id,
                });
                const sim = simulateStripe(
                  op.history,
                  { paymentIntentId: created.paymentIntentId, purchaseId: created.purchaseId, userId },
                  Math.floor(now / 1000),
                );
                purchases.push({
                  purchaseId: created.purchaseId,
                  events: sim.events,
                  final: { refunded: sim.refunded, withdrawn: sim.withdrawn },
                  delivered: new Set(),
                  granted: false,
                  clawedBack: 0,
                  lots: [],
                  charge: null,
                  refunds: new Map(),
                  disputes: new Map(),
                });
                break;
              }
              case "deliver": {
                const purchase = purchases[op.purchase % Math.max(purchases.length, 1)];
                const event = purchase?.events[op.event % purchase.events.length];
                if (!purchase || !event) break;
                await deliver(purchase, event, `step ${step} ${event.type}@${event.created}`);
                break;
              }
            }
            await compare(`after step ${step} (${JSON.stringify(op)})`);
          }

          // Every event reaches the app in the end, in a random order: then what was taken back must be what
          // the final facts at Stripe imply, however the events came.
          let flush = 0;
          vi.setSystemTime(now);
          for (const purchase of purchases) {
            const order = purchase.events
              .map((event, i) => ({ event, sortKey: flushOrder[(flush + i) % flushOrder.length] ?? i }))
              .sort((a, b) => a.sortKey - b.sortKey);
            flush += purchase.events.length;
            for (const { event } of order) await deliver(purchase, event, `final delivery of ${event.type}`);
            await compare(`after all events of purchase ${purchase.purchaseId}`);
            const gone = Math.min(PACKAGE.price, purchase.final.refunded + purchase.final.withdrawn);
            const expected = Math.floor((PACKAGE.credits * gone) / PACKAGE.price);
            const [row] = await db
              .select()
              .from(creditPurchase)
              .where(eq(creditPurchase.id, purchase.purchaseId));
            expect(
              {
                clawedBack: row?.clawedBackCredits,
                amountRefunded: row?.amountRefunded,
                disputed: row?.disputed,
              },
              `purchase history ${JSON.stringify(purchase.events.map((e) => `${e.type}@${e.created}`))}`,
            ).toEqual({
              clawedBack: expected,
              amountRefunded: purchase.final.refunded,
              disputed: purchase.final.withdrawn > 0,
            });
          }
          expect((await verifyLedger(db)).violations).toEqual([]);
          vi.useRealTimers();
        },
      ),
      {
        numRuns: kind === "pglite" ? 30 : 20,
        seed,
        // Shrinking replays the whole sequence many times over; PROPERTY_END_ON_FAILURE=1 prints the first
        // counterexample at once instead.
        endOnFailure: !!process.env.PROPERTY_END_ON_FAILURE,
      },
    );
  }, 900_000);
});

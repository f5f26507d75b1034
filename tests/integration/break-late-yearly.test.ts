import { and, asc, eq, sql } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { consumeCredits } from "../../src/credits/consume-credits";
import { addMonthsClamped } from "../../src/credits/credit-periods";
import { getBalance } from "../../src/credits/get-balance";
import { verifyLedger } from "../../src/credits/verify-ledger";
import {
  creditLot,
  subscriptionPeriodGrant,
  subscriptionRollover,
  subscriptionRolloverShare,
} from "../../src/db/schema";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { issueDueSlots } from "../../src/payment/subscriptions/issue-due-slots";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { handlerOf, transactionsGet } from "../support/route-handlers";
import { balanceOf, grantsOfInvoice, purchaseOfInvoice } from "../support/rows";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { disputeObject, testId } from "../support/stripe-events";
import {
  checkOutAtStripe,
  declinedYearAt,
  invoicePaymentIntent,
  refundedChargeOf,
} from "../support/stripe-subscriptions";
import { databaseKinds, type TestDatabase } from "../support/test-database";

// Attacks on a yearly invoice paid late (the renewal declined and paid months later, or its invoice.paid
// delivered late): the months already over are issued at payment, once, usable until the end of the slot in
// force; refunds, disputes, cancellations, the subscription-credits job and replays around it. Stripe is the
// local stand-in; events are signed with the SDK and go through the real webhook route; the ledger checker
// (verify) runs after every test.
const stripe = setUpStripeApp("break_late_yearly");

const DAY = 86_400_000;
const deliver = sequencedDelivery(stripe);
type Rec = Record<string, unknown>;
const subscriptionPatch = handlerOf(changeSubscription);
const plusSecond = (date: Date) => new Date(date.getTime() + 1000);

describe.each(databaseKinds())("breaking late yearly invoices, on %s", (kind) => {
  // Findings and attacks that held each have their own database: a finding that leaves the ledger checker
  // a violation must not fail the attacks that held.
  let database: TestDatabase;
  const ownDatabase = () => {
    const own = useAppDatabase(kind);
    beforeAll(() => {
      database = own;
    });
  };
  afterEach(async () => {
    stripe.fake.billing.cardDeclines = false;
    await assertLedgerInvariants(database.db);
  });
  const fake = () => stripe.fake;

  const slotsOfInvoice = (invoiceId: string) =>
    database.db
      .select({ slot: subscriptionPeriodGrant, lot: creditLot })
      .from(subscriptionPeriodGrant)
      .leftJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
      .where(eq(subscriptionPeriodGrant.invoiceId, invoiceId))
      .orderBy(asc(subscriptionPeriodGrant.slotIndex));
  const spend = (userId: string, amount: number) =>
    consumeCredits(database.db, {
      userId,
      amount,
      description: "attack spend",
      idempotencyKey: testId("spend"),
    });
  const verifyNow = async () => (await verifyLedger(database.db)).violations;

  /**
   * A yearly subscriber whose renewal, `daysAgo` days ago (75: two months over, the third in force), was
   * declined: past due, the year's invoice open. The first year's invoice.paid is not delivered.
   */
  const declinedYear = (daysAgo = 75) => declinedYearAt(fake(), deliver, daysAgo, "brk-late-year");

  /**
   * A declined year paid late, its invoice.paid delivered, no dispute event yet: `dispute(status)` is its
   * invoice's dispute (the year's 19,000 cents, id `disputeIdOf(invoiceId)`) as Stripe sends it.
   */
  async function lateYearToDispute(disputeIdOf: (invoiceId: string) => string = () => testId("dp")) {
    const sub = await declinedYear();
    const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
    const invoiceId = paid.id as string;
    await deliver("invoice.paid", paid);
    const purchase = await purchaseOfInvoice(database.db, invoiceId);
    const disputeId = disputeIdOf(invoiceId);
    const dispute = (status: string) =>
      disputeObject({
        id: disputeId,
        amount: 19_000,
        currency: "usd",
        charge: `ch_${invoiceId}`,
        payment_intent: purchase?.paymentIntentId ?? "",
        status,
      });
    return { sub, invoiceId, dispute };
  }

  describe("findings", () => {
    ownDatabase();
    it("a full refund after the month in force carried over takes back every credit of the late year, whichever lot the ledger drew from", async () => {
      // The two late months and the month in force are lots of one purchase (the late yearly invoice) that
      // expire together; the carry into the fourth month is shared out to the purchases that bought it. The
      // answer must not depend on which of those same-expiry lots the ledger drew the spend from (random
      // lot ids decide): find subscribers for whom the month in force's own lot is not the last drawn.
      const results: { order: string; spent: number; balance: number; shares: number; carry: number }[] = [];
      for (
        let attempt = 0;
        attempt < 8 && results.filter((r) => r.order !== "own_last").length < 1;
        attempt++
      ) {
        const sub = await declinedYear();
        const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
        const invoiceId = paid.id as string;
        expect((await deliver("invoice.paid", paid)).outcome).toContain("granted_late_2");
        expect(await balanceOf(database.db, sub.user.id)).toBe(3000);
        const rows = await slotsOfInvoice(invoiceId);
        const lots = rows.slice(0, 3).map(({ lot }) => lot?.id ?? "");
        const ownLot = lots[2] ?? "";
        // The ledger draws same-expiry, same-time lots by id.
        const drawn = [...lots].sort();
        const position = drawn.indexOf(ownLot);
        const order = position === 2 ? "own_last" : position === 1 ? "own_middle" : "own_first";
        // Own first: 500 spent leaves 500 of it and all the late credits unspent; own in the middle: 1,500.
        const spent = order === "own_first" ? 500 : 1500;
        await spend(sub.user.id, spent);
        const month3 = rows[3]?.slot;
        if (!month3) throw new Error("slot 3");
        expect(
          await issueDueSlots(database.db, {
            now: plusSecond(month3.periodStart),
            subscriptionId: sub.step.subscriptionId,
          }),
        ).toMatchObject({ granted: 1 });
        const [carry] = await database.db
          .select()
          .from(subscriptionRollover)
          .where(
            and(
              eq(subscriptionRollover.subscriptionId, sub.step.subscriptionId),
              eq(subscriptionRollover.intoStart, month3.periodStart),
            ),
          );
        const shares = await database.db
          .select()
          .from(subscriptionRolloverShare)
          .where(eq(subscriptionRolloverShare.subscriptionId, sub.step.subscriptionId));
        // The whole year back: every credit of it goes back, the spent ones as debt.
        await deliver("charge.refunded", refundedChargeOf(fake(), paid, 19_000));
        results.push({
          order,
          spent,
          balance: await (async () => {
            const b = await getBalance(database.db, sub.user.id, plusSecond(month3.periodStart));
            return b.balance - b.debt;
          })(),
          shares: shares.reduce((sum, share) => sum + share.credits, 0),
          carry: carry?.credits ?? -1,
        });
      }
      for (const result of results) {
        // The carry (1,000: the cap) was bought with the late year's money, all of it.
        expect(result).toMatchObject({ carry: 1000, shares: 1000, balance: -result.spent });
      }
    });
    it("customer.subscription.deleted delivered after the late invoice.paid: the month that began after the end is granted, where in order it is stopped", async () => {
      // Canceled 40 days into the year (its second month), before the payment; the deletion's event is
      // delivered only after the late invoice.paid. In order, the third month is stopped (2,000 credits).
      const sub = await declinedYear();
      const endedAt = Math.floor((sub.year.start.getTime() + 40 * DAY) / 1000);
      const canceled = {
        ...(fake().subscriptions.get(sub.providerId) as Rec),
        status: "canceled",
        ended_at: endedAt,
        canceled_at: endedAt,
      };
      fake().subscriptions.set(sub.providerId, canceled);
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      fake().subscriptions.set(sub.providerId, { ...canceled, latest_invoice: paid.id });
      await deliver("invoice.paid", paid);
      await deliver("customer.subscription.deleted", canceled);
      await issueDueSlots(database.db, {
        now: new Date(sub.year.end.getTime() - 1000),
        subscriptionId: sub.step.subscriptionId,
      });
      expect(await grantsOfInvoice(database.db, sub.user.id, paid.id as string)).toHaveLength(2);
      expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
    });

    it("switched to Pro monthly in the Dashboard while the late year is open, then the year paid: the months after the switch are not granted twice (yearly slots and monthly periods)", async () => {
      const sub = await declinedYear();
      // Pro monthly's price, as the app makes it on first use: another customer subscribes to it.
      const other = await signUp(`${testId("brk-monthly")}@example.com`);
      await checkOutAtStripe(fake(), other, "pro-monthly");
      const monthlyPrice = [...fake().billing.prices.values()].find(
        (price) => (price.recurring as Rec | undefined)?.interval === "month" && price.unit_amount === 1900,
      )?.id as string;
      expect(monthlyPrice).toBeTruthy();
      // An operator switches the past-due customer to Pro monthly at once (the portal or the Dashboard):
      // the unused time of the year is credited, a month charged, a new monthly cycle from now.
      const switched = fake().billing.handle(
        "POST",
        `/v1/subscriptions/${sub.providerId}`,
        new URLSearchParams({ "items[0][price]": monthlyPrice, proration_behavior: "always_invoice" }),
        new URLSearchParams(),
      );
      expect(switched?.status).toBe(200);
      const current = fake().subscriptions.get(sub.providerId) as Rec;
      const switchInvoice = fake().billing.invoices.get(current.latest_invoice as string) as Rec;
      await deliver("customer.subscription.updated", current);
      await deliver("invoice.paid", switchInvoice);
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      await deliver("invoice.paid", paid);
      await deliver("customer.subscription.updated", fake().subscriptions.get(sub.providerId) ?? {});
      // Over the next eight months: the monthly renewals, and the job.
      let monthly = 0;
      for (let month = 0; month < 8; month++) {
        const renewal = fake().billing.renew(sub.providerId);
        if (renewal.invoice) monthly++;
      }
      // The job, as each later month of the year begins.
      let slotsGrantedAfterSwitch = 0;
      for (const { slot } of (await slotsOfInvoice(paid.id as string)).slice(3)) {
        const run = await issueDueSlots(database.db, {
          now: plusSecond(slot.periodStart),
          subscriptionId: sub.step.subscriptionId,
        });
        slotsGrantedAfterSwitch += run.granted;
      }
      // The yearly slots of the months after the switch were paid for by the year the customer left (its
      // unused time credited toward the monthly plan): none may be granted beside the monthly periods.
      expect({ monthly, slotsGrantedAfterSwitch }).toEqual({ monthly: 8, slotsGrantedAfterSwitch: 0 });
    });

    it("half refunded before the late invoice.paid: at the fourth month every such customer holds the same, whichever lots the clawback drew from", async () => {
      // Without the refund the fourth month starts with 2,000 (its own 1,000 and the capped carry of the
      // month in force); with half the money back, what is left may not depend on chance. The clawback draws from lots of one purchase
      // that expire together (the late months and the month in force), in lot id order: several
      // subscribers, so that more than one order is tried.
      const found: { order: string; balance: number }[] = [];
      const orders = () => new Set(found.map(({ order }) => order)).size;
      for (let attempt = 0; attempt < 10 && (orders() < 2 || found.length < 3); attempt++) {
        const sub = await declinedYear();
        const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
        await deliver("charge.refunded", refundedChargeOf(fake(), paid, 9500));
        await deliver("invoice.paid", paid);
        const rows = await slotsOfInvoice(paid.id as string);
        const lots = rows.slice(0, 3).map(({ lot }) => lot?.id ?? "");
        const month3 = rows[3]?.slot;
        if (!month3) throw new Error("slot 3");
        const at = plusSecond(month3.periodStart);
        await issueDueSlots(database.db, { now: at, subscriptionId: sub.step.subscriptionId });
        const balance = await getBalance(database.db, sub.user.id, at);
        found.push({
          order: `own lot drawn ${[...lots].sort().indexOf(lots[2] ?? "") + 1} of 3`,
          balance: balance.balance - balance.debt,
        });
      }
      expect(orders()).toBeGreaterThanOrEqual(2);
      // One answer for all: which lot a clawback drew from must not decide what the customer keeps. Half
      // the money back takes half the 3,000 issued (1,500), from the late months first: they count as used
      // first and never carry, so the month in force keeps its 1,000 unspent, and 1,500 expire unused. The
      // carry is min(cap 1,000, own 1,000, expired 1,500) = 1,000, exactly as if the 1,500 had been spent.
      // The fourth month's 1,000 is issued and half of it taken (the refunded half of 4,000 issued is
      // 2,000): 500 + 1,000 = 1,500. (Drawn from the month in force first, the carry was 0 or 500.)
      expect(found).toEqual(found.map(({ order }) => ({ order, balance: 1500 })));
    });

    it("a dispute of the late year opened and won, then the fourth month issued: verify passes (the given-back lot keeps the expiry of the credits it gives back)", async () => {
      const { sub, invoiceId, dispute } = await lateYearToDispute();
      await deliver("charge.dispute.created", dispute("needs_response"));
      expect(await balanceOf(database.db, sub.user.id)).toBe(0);
      await deliver("charge.dispute.closed", dispute("won"));
      expect(await balanceOf(database.db, sub.user.id)).toBe(3000);
      const rows = await slotsOfInvoice(invoiceId);
      const month3 = rows[3]?.slot;
      if (!month3) throw new Error("slot 3");
      expect(
        await issueDueSlots(database.db, {
          now: plusSecond(month3.periodStart),
          subscriptionId: sub.step.subscriptionId,
        }),
      ).toMatchObject({ granted: 1 });
      expect(await verifyNow()).toEqual([]);
    });

    it("the job runs while a dispute of the late year is open, the dispute is then won: the month stopped meanwhile is the customer's after all", async () => {
      const { sub, invoiceId, dispute } = await lateYearToDispute();
      await deliver("charge.dispute.created", dispute("needs_response"));
      const rows = await slotsOfInvoice(invoiceId);
      const month3 = rows[3]?.slot;
      const month4 = rows[4]?.slot;
      if (!month3 || !month4) throw new Error("slots 3, 4");
      const job3 = await issueDueSlots(database.db, {
        now: plusSecond(month3.periodStart),
        subscriptionId: sub.step.subscriptionId,
      });
      await deliver("charge.dispute.closed", dispute("won"));
      await issueDueSlots(database.db, {
        now: plusSecond(month4.periodStart),
        subscriptionId: sub.step.subscriptionId,
      });
      // The merchant kept the year's money: every month of it is the customer's (five by the fifth month).
      expect({
        job3,
        granted: (await grantsOfInvoice(database.db, sub.user.id, invoiceId)).length,
      }).toMatchObject({
        granted: 5,
      });
    });

    it("the job runs while a dispute of the late year is open, the dispute is then lost: the month held meanwhile and the later ones are stopped, nothing granted", async () => {
      const { sub, invoiceId, dispute } = await lateYearToDispute((invoiceId) => `dp_lost_${invoiceId}`);
      await deliver("charge.dispute.created", dispute("needs_response"));
      const rows = await slotsOfInvoice(invoiceId);
      const month3 = rows[3]?.slot;
      const month4 = rows[4]?.slot;
      if (!month3 || !month4) throw new Error("slots 3, 4");
      const at3 = { now: plusSecond(month3.periodStart), subscriptionId: sub.step.subscriptionId };
      expect(await issueDueSlots(database.db, at3)).toMatchObject({ granted: 0, stopped: 0, held: 1 });
      expect((await slotsOfInvoice(invoiceId))[3]?.slot.status).toBe("scheduled");
      await deliver("charge.dispute.closed", dispute("lost"));
      const at4 = { now: plusSecond(month4.periodStart), subscriptionId: sub.step.subscriptionId };
      expect(await issueDueSlots(database.db, at4)).toMatchObject({ granted: 0, grantedLate: 0, stopped: 2 });
      expect(await grantsOfInvoice(database.db, sub.user.id, invoiceId)).toHaveLength(3);
      expect(await balanceOf(database.db, sub.user.id, at4.now)).toBeLessThanOrEqual(0);
    });
  });

  describe("held", () => {
    ownDatabase();
    it("GET /api/credits/transactions: the late months say until when they are usable, the month in force and the job's months do not", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      await deliver("invoice.paid", paid);
      const rows = await slotsOfInvoice(paid.id as string);
      const inForce = rows[2]?.slot;
      if (!inForce) throw new Error("slot 2");
      const answer = await readJson<{
        items: { type: string; usableUntil?: string | null; description: string }[];
      }>(
        await transactionsGet(
          appRequest("/api/credits/transactions?limit=50", { cookie: sub.user.cookie }),
          routeContext({}),
        ),
      );
      expect(answer.status).toBe(200);
      const grants = answer.body.items.filter((item) => item.type === "subscription");
      expect(grants).toHaveLength(3);
      expect(grants.filter((item) => item.usableUntil === inForce.periodEnd.toISOString())).toHaveLength(2);
      // (The route leaves out fields that are null.)
      expect(grants.filter((item) => item.usableUntil == null)).toHaveLength(1);
    });

    it("a 0-credit invoice disputed before its invoice.paid, then paid, then the dispute lost and won elsewhere: nothing is taken, the purchase completes with 0", async () => {
      const user = await signUp(`${testId("brk-zero")}@example.com`);
      const step = await checkOutAtStripe(fake(), user, "pro-monthly");
      const providerId = step.subscription.id as string;
      await deliver("checkout.session.completed", step.session);
      await deliver("customer.subscription.created", step.subscription);
      await deliver("invoice.paid", step.invoice);
      const upgrade = async () => {
        const answer = await readJson<{ change: { invoiceId: string } }>(
          await subscriptionPatch(
            appRequest("/api/credits/subscription", {
              method: "PATCH",
              cookie: user.cookie,
              json: { planId: "max-monthly" },
            }),
          ),
        );
        expect(answer.status).toBe(200);
        return fake().billing.invoices.get(answer.body.change.invoiceId) as Rec;
      };
      const first = await upgrade();
      await deliver("customer.subscription.updated", fake().subscriptions.get(providerId) ?? {});
      await deliver("invoice.paid", first);
      const proPrice = (step.invoice.lines as { data: { pricing: { price_details: { price: string } } }[] })
        .data[0]?.pricing.price_details.price;
      fake().billing.handle(
        "POST",
        `/v1/subscriptions/${providerId}`,
        new URLSearchParams({ "items[0][price]": proPrice ?? "" }),
        new URLSearchParams(),
      );
      await deliver("customer.subscription.updated", fake().subscriptions.get(providerId) ?? {});
      const balance = await balanceOf(database.db, user.id);
      const second = await upgrade();
      const intent = invoicePaymentIntent(fake(), second.id as string);
      const dispute = (status: string) =>
        disputeObject({
          id: `dp_zero_${second.id as string}`,
          amount: second.amount_paid as number,
          currency: "usd",
          charge: `ch_${second.id as string}`,
          payment_intent: intent,
          status,
        });
      expect((await deliver("charge.dispute.created", dispute("needs_response"))).outcome).toBe(
        "awaiting_grant",
      );
      expect(await purchaseOfInvoice(database.db, second.id as string)).toMatchObject({
        status: "pending",
        credits: 0,
      });
      await deliver("customer.subscription.updated", fake().subscriptions.get(providerId) ?? {});
      expect((await deliver("invoice.paid", second)).outcome).toContain("proration_nothing");
      expect(await balanceOf(database.db, user.id)).toBe(balance);
      expect(await purchaseOfInvoice(database.db, second.id as string)).toMatchObject({
        status: "succeeded",
        credits: 0,
        clawedBackCredits: 0,
      });
      await deliver("charge.dispute.closed", dispute("lost"));
      expect(await balanceOf(database.db, user.id)).toBe(balance);
      expect(await verifyNow()).toEqual([]);
      // An Admin refund of the disputed 0-credit purchase: refused or sent, it takes nothing.
      const purchase = await purchaseOfInvoice(database.db, second.id as string);
      await refundPurchase(
        database.db,
        getPaymentProvider(database.db),
        { purchaseId: purchase?.id ?? "", reason: "after a lost dispute" },
        { userId: user.id, label: "ops@example.test" },
      ).catch(() => undefined);
      expect(await balanceOf(database.db, user.id)).toBe(balance);
    });

    it("a late year's invoice.paid replayed with another event id while the job issues the fourth month: each month once, the purchase's figures exact", async () => {
      const sub = await declinedYear(100);
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      const month3Start = addMonthsClamped(sub.year.start, 3, sub.year.start.getUTCDate());
      expect(month3Start.getTime()).toBeLessThan(Date.now());
      await Promise.all([
        deliver("invoice.paid", paid),
        issueDueSlots(database.db, { subscriptionId: sub.step.subscriptionId }),
        deliver("invoice.paid", paid),
        issueDueSlots(database.db, { subscriptionId: sub.step.subscriptionId }),
      ]);
      expect(await balanceOf(database.db, sub.user.id)).toBe(4000);
      expect(await grantsOfInvoice(database.db, sub.user.id, invoiceId)).toHaveLength(4);
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
        credits: 12_000,
        creditsIssued: 4000,
      });
      const history = (await database.db.execute(
        sql`SELECT count(*)::int AS n FROM credit_entry WHERE user_id = ${sub.user.id} AND type = 'subscription' AND metadata->>'paidLate' = 'true'`,
      )) as unknown as { rows: { n: number }[] };
      expect(history.rows[0]?.n).toBe(3);
    });

    it("the year paid after it ended entirely (still past due): twelve months at once, each for its own length from the payment; the job adds nothing; a half refund takes half", async () => {
      const sub = await declinedYear(400);
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      const before = Date.now();
      const [a, b] = await Promise.all([deliver("invoice.paid", paid), deliver("invoice.paid", paid)]);
      expect([a.outcome, b.outcome]).toContainEqual(expect.stringContaining("granted_late_12"));
      expect(await balanceOf(database.db, sub.user.id)).toBe(12_000);
      const rows = await slotsOfInvoice(invoiceId);
      for (const { slot, lot } of rows) {
        expect(slot.status).toBe("granted");
        const length = slot.periodEnd.getTime() - slot.periodStart.getTime();
        expect(lot?.expiresAt?.getTime() ?? 0).toBeGreaterThanOrEqual(before + length - 60_000);
        expect(lot?.expiresAt?.getTime() ?? 0).toBeLessThanOrEqual(Date.now() + length + 60_000);
      }
      expect(await issueDueSlots(database.db, { subscriptionId: sub.step.subscriptionId })).toMatchObject({
        granted: 0,
        stopped: 0,
        grantedLate: 0,
        held: 0,
      });
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({ credits: 12_000 });
      expect((await purchaseOfInvoice(database.db, invoiceId))?.creditsIssued ?? 12_000).toBe(12_000);
      await deliver("charge.refunded", refundedChargeOf(fake(), paid, 9500));
      expect(await balanceOf(database.db, sub.user.id)).toBe(6000);
      expect(await verifyNow()).toEqual([]);
    });

    it("a late year paid after the next year was paid: the next year's months stay, the late year's twelve come once, usable until the next year's month in force ends; a full refund of the late year takes its twelve back", async () => {
      const sub = await declinedYear(400);
      const next = fake().billing.renew(sub.providerId);
      if (!next.invoice) throw new Error("next year invoiced");
      expect(next.invoice.status).toBe("paid");
      await deliver("customer.subscription.updated", next.subscription);
      expect((await deliver("invoice.paid", next.invoice)).outcome).toContain("granted_late_1");
      expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
      const nextRows = await slotsOfInvoice(next.invoice.id as string);
      const inForce = nextRows[1]?.slot;
      if (!inForce) throw new Error("slot 1");

      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      expect((await deliver("invoice.paid", paid)).outcome).toContain("granted_late_12");
      expect((await deliver("invoice.paid", paid)).outcome).toContain("already_granted");
      expect(await balanceOf(database.db, sub.user.id)).toBe(14_000);
      const lateRows = await slotsOfInvoice(paid.id as string);
      expect(lateRows.map(({ lot }) => lot?.expiresAt)).toEqual(Array(12).fill(inForce.periodEnd));
      expect(await verifyNow()).toEqual([]);
      await deliver("charge.refunded", refundedChargeOf(fake(), paid, 19_000));
      expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
      expect(await verifyNow()).toEqual([]);
      // The next year's third month comes from the job, once.
      const month2 = nextRows[2]?.slot;
      if (!month2) throw new Error("slot 2");
      const at = { now: plusSecond(month2.periodStart), subscriptionId: sub.step.subscriptionId };
      expect(await issueDueSlots(database.db, at)).toMatchObject({ granted: 1 });
      expect(await issueDueSlots(database.db, at)).toMatchObject({ granted: 0 });
    });

    it("half refunded in the Dashboard before the late invoice.paid: the pending purchase holds 0, the late months lose half, the fourth month is issued, the rest refunded stops the others", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      expect((await deliver("charge.refunded", refundedChargeOf(fake(), paid, 9500))).outcome).toBe(
        "awaiting_grant",
      );
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
        status: "pending",
        credits: 0,
      });
      const outcome = (await deliver("invoice.paid", paid)).outcome;
      expect(outcome).toContain("granted_late_2");
      expect(await balanceOf(database.db, sub.user.id)).toBe(1500);
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
        status: "succeeded",
        credits: 12_000,
        creditsIssued: 3000,
        clawedBackCredits: 1500,
      });
      const rows = await slotsOfInvoice(invoiceId);
      const month3 = rows[3]?.slot;
      if (!month3) throw new Error("slot 3");
      await issueDueSlots(database.db, {
        now: plusSecond(month3.periodStart),
        subscriptionId: sub.step.subscriptionId,
      });
      // 1,500 of the first three months expired with the month in force; the fourth adds half of its own
      // and half of the capped carry.
      const at = plusSecond(month3.periodStart);
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({ creditsIssued: 4000 });
      // (What is left of them at the fourth month depends on the lot order: see the findings.)
      // The rest of the money back: the months to come are stopped.
      await deliver("charge.refunded", refundedChargeOf(fake(), paid, 19_000));
      expect(await balanceOf(database.db, sub.user.id, at)).toBe(0);
      expect(
        await issueDueSlots(database.db, {
          now: new Date(sub.year.end.getTime() - 1000),
          subscriptionId: sub.step.subscriptionId,
        }),
      ).toMatchObject({ granted: 0, stopped: 8 });
    });

    it("Admin refunds part of a late year, twice with one request id, one refund, more than is left refused; the rest refunded in the Dashboard, the months to come stopped", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      await deliver("invoice.paid", paid);
      const purchase = await purchaseOfInvoice(database.db, invoiceId);
      if (!purchase) throw new Error("purchase");
      const provider = getPaymentProvider(database.db);
      const actor = { userId: sub.user.id, label: "ops@example.test" };
      const before = fake().billing.refunds.length;
      const requestId = testId("rq");
      await Promise.all([
        refundPurchase(
          database.db,
          provider,
          { purchaseId: purchase.id, amount: 4750, reason: "a quarter", requestId },
          actor,
        ),
        refundPurchase(
          database.db,
          provider,
          { purchaseId: purchase.id, amount: 4750, reason: "a quarter", requestId },
          actor,
        ),
      ]);
      expect(fake().billing.refunds.length - before).toBeGreaterThanOrEqual(1);
      expect(
        new Set(
          fake()
            .billing.refunds.slice(before)
            .map((r) => r.amount),
        ),
      ).toEqual(new Set([4750]));
      await deliver("charge.refunded", refundedChargeOf(fake(), paid, 4750));
      expect(await balanceOf(database.db, sub.user.id)).toBe(2250);
      await expect(
        refundPurchase(
          database.db,
          provider,
          { purchaseId: purchase.id, amount: 15_000, reason: "too much" },
          actor,
        ),
      ).rejects.toThrow();
      await deliver("charge.refunded", refundedChargeOf(fake(), paid, 19_000));
      expect(await balanceOf(database.db, sub.user.id)).toBe(0);
      expect(
        await issueDueSlots(database.db, {
          now: new Date(sub.year.end.getTime() - 1000),
          subscriptionId: sub.step.subscriptionId,
        }),
      ).toMatchObject({ granted: 0, stopped: 9 });
    });

    it("the late invoice.paid, a full refund and the job at the fourth month all at once: the customer ends with nothing of the year, and nothing twice", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      const month3Start = addMonthsClamped(sub.year.start, 3, sub.year.start.getUTCDate());
      await Promise.all([
        deliver("invoice.paid", paid),
        deliver("charge.refunded", refundedChargeOf(fake(), paid, 19_000)),
        issueDueSlots(database.db, { now: plusSecond(month3Start), subscriptionId: sub.step.subscriptionId }),
      ]);
      await deliver("invoice.paid", paid);
      await issueDueSlots(database.db, {
        now: new Date(sub.year.end.getTime() - 1000),
        subscriptionId: sub.step.subscriptionId,
      });
      expect(await balanceOf(database.db, sub.user.id)).toBeLessThanOrEqual(0);
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
        status: "succeeded",
        amountRefunded: 19_000,
      });
      const rows = await slotsOfInvoice(invoiceId);
      expect(rows.filter(({ slot }) => slot.status === "scheduled")).toHaveLength(0);
      expect((await grantsOfInvoice(database.db, sub.user.id, invoiceId)).length).toBeLessThanOrEqual(4);
    });

    it("a plan change while the late year is outstanding is refused; paid, the change is allowed", async () => {
      const sub = await declinedYear();
      const refused = await readJson(
        await subscriptionPatch(
          appRequest("/api/credits/subscription", {
            method: "PATCH",
            cookie: sub.user.cookie,
            json: { planId: "pro-monthly" },
          }),
        ),
      );
      expect(refused.status).toBe(409);
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      await deliver("invoice.paid", paid);
      await deliver("customer.subscription.updated", fake().subscriptions.get(sub.providerId) ?? {});
      expect(await balanceOf(database.db, sub.user.id)).toBe(3000);
    });
  });
});

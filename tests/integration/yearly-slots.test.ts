import { and, asc, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { addMonthsClamped } from "../../src/credits/credit-periods";
import { listTransactions } from "../../src/credits/list-transactions";
import { verifySubscriptions } from "../../src/credits/verify-subscriptions";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditEntry,
  creditLot,
  planPrice,
  subscription,
  subscriptionPeriodGrant,
} from "../../src/db/schema";
import { runSubscriptionCredits } from "../../src/jobs/run-subscription-credits";
import { SUBSCRIPTION_CREDITS_QUEUE, startJobs } from "../../src/jobs/start-jobs";
import { issueDueSlots } from "../../src/payment/subscriptions/issue-due-slots";
import { yearlySlots } from "../../src/payment/subscriptions/schedule-yearly-slots";
import { assertLedgerInvariants } from "../support/invariants";
import { balanceOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  invoiceLineObject,
  invoiceObject,
  stripeEventPayload,
  subscriptionObject,
  testId,
} from "../support/stripe-events";
import { deliverSignedPayload } from "../support/stripe-subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Yearly plans grant monthly: a paid yearly invoice (Stripe's shapes, signed with the SDK) creates twelve
// monthly slots; the `subscription-credits` job issues each one once when it comes due.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const YEARLY_PRICE = testId("price");
const at = (iso: string) => new Date(iso);
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const plusSecond = (date: Date) => new Date(date.getTime() + 1000);

async function deliver(payload: string): Promise<{ status: number; outcome?: string }> {
  const { status, body } = await deliverSignedPayload(payload);
  return { status, outcome: body.outcome };
}

describe("yearly slots: dates", () => {
  it("a Jan 31 anchor gives Feb 28 (29 in a leap year), Mar 31, Apr 30, and the last slot ends at the line's end", () => {
    const year = { start: at("2031-01-31T10:00:00Z"), end: at("2032-01-31T10:00:00Z") };
    const slots = yearlySlots(year);
    expect(slots).toHaveLength(12);
    expect(slots.slice(0, 4).map((slot) => slot.end.toISOString())).toEqual([
      "2031-02-28T10:00:00.000Z",
      "2031-03-31T10:00:00.000Z",
      "2031-04-30T10:00:00.000Z",
      "2031-05-31T10:00:00.000Z",
    ]);
    expect(slots[11]).toEqual({ start: at("2031-12-31T10:00:00Z"), end: year.end });
    expect(
      yearlySlots({ start: at("2032-01-31T10:00:00Z"), end: at("2033-01-31T10:00:00Z") })[0]?.end,
    ).toEqual(at("2032-02-29T10:00:00Z"));
    // A year that starts on a clamped day keeps its anchor's day: Feb 28 of an anchor on the 29th.
    const clamped = yearlySlots({ start: at("2033-02-28T10:00:00Z"), end: at("2034-02-28T10:00:00Z") }, 29);
    expect(clamped[0]?.end).toEqual(at("2033-03-29T10:00:00Z"));
    expect(() => yearlySlots({ start: at("2031-03-01T00:00:00Z"), end: at("2031-04-01T00:00:00Z") })).toThrow(
      RangeError,
    );
  });
});

describe.each(databaseKinds())("yearly plans grant monthly (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 25 });
    useDatabaseConnection(database);
    await database.db.insert(planPrice).values({
      priceId: YEARLY_PRICE,
      provider: "stripe",
      planId: "pro-yearly",
      amount: 19000,
      currency: "usd",
      interval: "year",
      lookupKey: "creditkit:pro-yearly:19000:usd",
    });
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** A user's active yearly subscription of ours, linked to Stripe's. */
  async function yearlySubscriber() {
    const userId = await seedUser(database.db);
    const customer = testId("cus");
    const providerSubscriptionId = testId("sub");
    const [row] = await database.db
      .insert(subscription)
      .values({
        userId,
        provider: "stripe",
        customerId: customer,
        planId: "pro-yearly",
        status: "active",
        providerSubscriptionId,
      })
      .returning();
    if (!row) throw new Error("no subscription row");
    return { userId, customer, providerSubscriptionId, row };
  }
  type Subscriber = Awaited<ReturnType<typeof yearlySubscriber>>;

  function yearlyInvoice(sub: Subscriber, year: { start: Date; end: Date }) {
    const id = testId("in");
    return invoiceObject({
      id,
      customer: sub.customer,
      subscription: sub.providerSubscriptionId,
      subscriptionMetadata: { subscriptionId: sub.row.id, userId: sub.userId },
      amountPaid: 19000,
      billingReason: "subscription_create",
      lines: [
        invoiceLineObject({
          invoice: id,
          subscription: sub.providerSubscriptionId,
          price: YEARLY_PRICE,
          amount: 19000,
          period: year,
        }),
      ],
    });
  }

  /** A year that began an hour ago (whole seconds, as Stripe's timestamps are). */
  function yearFromNow() {
    const start = new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000);
    return { start, end: addMonthsClamped(start, 12) };
  }

  const slotsOf = (subscriptionId: string) =>
    database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(eq(subscriptionPeriodGrant.subscriptionId, subscriptionId))
      .orderBy(asc(subscriptionPeriodGrant.periodStart));
  const entriesOf = (userId: string, type: string) =>
    database.db
      .select()
      .from(creditEntry)
      .where(and(eq(creditEntry.userId, userId), eq(creditEntry.type, type)))
      .orderBy(asc(creditEntry.id));

  /** Delivers the subscription's customer.subscription.deleted, ended (cancelled at once) at `endedAt`; expects 200. */
  async function cancelledAt(sub: Subscriber, year: { start: Date; end: Date }, endedAt: Date) {
    const deleted = {
      ...subscriptionObject({
        id: sub.providerSubscriptionId,
        customer: sub.customer,
        status: "canceled",
        price: YEARLY_PRICE,
        period: year,
        metadata: { subscriptionId: sub.row.id, userId: sub.userId },
      }),
      canceled_at: seconds(endedAt),
      ended_at: seconds(endedAt),
    };
    expect((await deliver(stripeEventPayload("customer.subscription.deleted", deleted))).status).toBe(200);
  }

  /** A subscriber whose yearly invoice was paid just now (slot 0 granted, eleven scheduled). */
  async function paidYear() {
    const sub = await yearlySubscriber();
    const year = yearFromNow();
    const invoice = yearlyInvoice(sub, year);
    const paid = await deliver(stripeEventPayload("invoice.paid", invoice));
    return { sub, year, invoice, paid, slots: yearlySlots(year) };
  }

  it("a paid yearly invoice grants 1,000 now and schedules the other eleven months, once", async () => {
    const { sub, year, invoice, paid } = await paidYear();
    expect(paid).toEqual({ status: 200, outcome: "granted+scheduled_11" });
    expect(await balanceOf(database.db, sub.userId)).toBe(1000);

    const slots = await slotsOf(sub.row.id);
    expect(slots.map((slot) => [slot.kind, slot.slotIndex, slot.status, slot.credits])).toEqual(
      Array.from({ length: 12 }, (_, index) => ["slot", index, index === 0 ? "granted" : "scheduled", 1000]),
    );
    expect(slots[0]?.periodStart).toEqual(year.start);
    expect(slots[11]?.periodEnd).toEqual(year.end);
    // Slot 0's lot ends with slot 0 (a month), not with the year.
    const [lot] = await database.db.select().from(creditLot).where(eq(creditLot.userId, sub.userId));
    expect(lot).toMatchObject({ credits: 1000, source: "subscription", category: "paid" });
    expect(lot?.expiresAt).toEqual(addMonthsClamped(year.start, 1));

    // The same invoice again, under another event id: nothing more.
    expect(await deliver(stripeEventPayload("invoice.paid", invoice))).toEqual({
      status: 200,
      outcome: "already_granted",
    });
    expect(await balanceOf(database.db, sub.userId)).toBe(1000);
    expect(await entriesOf(sub.userId, "subscription")).toHaveLength(1);
  });

  it("the job issues a due slot once: run twice, restarted later, or run three times at once", async () => {
    const { sub, slots } = await paidYear();
    const month1 = slots[1];
    const month2 = slots[2];
    if (!month1 || !month2) throw new Error("no slots");

    // Before slot 1 starts, nothing is due.
    expect(
      await issueDueSlots(database.db, {
        now: new Date(month1.start.getTime() - 1000),
        subscriptionId: sub.row.id,
      }),
    ).toMatchObject({
      granted: 0,
    });
    // Three instances at once, the moment slot 1 starts, then a fourth run: slot 1 is granted once (and
    // the runs together grant exactly the slots that became granted, other tests' subscriptions included).
    const grantedSlots = async () =>
      (await database.db.select().from(subscriptionPeriodGrant)).filter((row) => row.status === "granted")
        .length;
    const before = await grantedSlots();
    const runs = await Promise.all(
      [1, 2, 3].map(() => runSubscriptionCredits(database.db, plusSecond(month1.start))),
    );
    expect(runs.reduce((sum, run) => sum + run.slots.granted, 0)).toBe((await grantedSlots()) - before);
    expect(await entriesOf(sub.userId, "subscription")).toHaveLength(2);
    expect((await runSubscriptionCredits(database.db, plusSecond(month1.start))).slots.granted).toBe(0);
    expect(await entriesOf(sub.userId, "subscription")).toHaveLength(2);

    // A run "restarted" a month later finds slot 1 done and grants slot 2 only.
    const later = await issueDueSlots(database.db, {
      now: plusSecond(month2.start),
      subscriptionId: sub.row.id,
    });
    expect(later).toMatchObject({ granted: 1, stopped: 0 });
    expect(
      await issueDueSlots(database.db, { now: plusSecond(month2.start), subscriptionId: sub.row.id }),
    ).toEqual({
      granted: 0,
      grantedLate: 0,
      stopped: 0,
      held: 0,
      skipped: 0,
    });

    const grants = await entriesOf(sub.userId, "subscription");
    expect(grants.map((entry) => entry.amount)).toEqual([1000, 1000, 1000]);
    expect((await slotsOf(sub.row.id)).map((slot) => slot.status).slice(0, 4)).toEqual([
      "granted",
      "granted",
      "granted",
      "scheduled",
    ]);
    // Capped rollover between slots: each month's unspent 1,000 expired at its end and carried once.
    const carries = await entriesOf(sub.userId, "rollover");
    expect(carries.map((entry) => entry.amount)).toEqual([1000, 1000]);
    const lots = await database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.userId, sub.userId))
      .orderBy(asc(creditLot.createdAt));
    expect(lots.filter((lot) => lot.source === "subscription").map((lot) => lot.expiresAt)).toEqual([
      slots[0]?.end,
      month1.end,
      month2.end,
    ]);
  });

  it.runIf(kind === "postgres")(
    "a slot whose subscription another transaction holds is skipped, then granted by the next run",
    async () => {
      const { sub, slots } = await paidYear();
      const month1 = slots[1];
      if (!month1) throw new Error("no slots");
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked: () => void = () => {};
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = database.db.transaction(async (tx) => {
        await tx.select().from(subscription).where(eq(subscription.id, sub.row.id)).for("update");
        locked();
        await held;
      });
      await isLocked;
      const skipped = await issueDueSlots(database.db, {
        now: plusSecond(month1.start),
        subscriptionId: sub.row.id,
      });
      expect(skipped).toMatchObject({ granted: 0, skipped: 1 });
      release();
      await holder;
      const next = await issueDueSlots(database.db, {
        now: plusSecond(month1.start),
        subscriptionId: sub.row.id,
      });
      expect(next).toMatchObject({ granted: 1 });
      expect(await entriesOf(sub.userId, "subscription")).toHaveLength(2);
    },
  );

  it("anchored on Jan 31 (leap year): slots end Feb 29, Mar 31, Apr 30 and each lot expires then", async () => {
    const sub = await yearlySubscriber();
    const year = { start: at("2032-01-31T12:00:00Z"), end: at("2033-01-31T12:00:00Z") };
    // Paid ahead of its start (as the sandbox's renewals are): every slot waits for its month.
    expect(await deliver(stripeEventPayload("invoice.paid", yearlyInvoice(sub, year)))).toEqual({
      status: 200,
      outcome: "scheduled_12",
    });
    const slots = await slotsOf(sub.row.id);
    expect(
      slots.slice(0, 4).map((slot) => [slot.periodStart.toISOString(), slot.periodEnd.toISOString()]),
    ).toEqual([
      ["2032-01-31T12:00:00.000Z", "2032-02-29T12:00:00.000Z"],
      ["2032-02-29T12:00:00.000Z", "2032-03-31T12:00:00.000Z"],
      ["2032-03-31T12:00:00.000Z", "2032-04-30T12:00:00.000Z"],
      ["2032-04-30T12:00:00.000Z", "2032-05-31T12:00:00.000Z"],
    ]);
    for (const day of ["2032-01-31T12:00:01Z", "2032-02-29T12:00:01Z"])
      await issueDueSlots(database.db, { now: at(day), subscriptionId: sub.row.id });
    const lots = await database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, sub.userId), eq(creditLot.source, "subscription")))
      .orderBy(asc(creditLot.createdAt));
    expect(lots.map((lot) => lot.expiresAt?.toISOString())).toEqual([
      "2032-02-29T12:00:00.000Z",
      "2032-03-31T12:00:00.000Z",
    ]);
  });

  it("cancelling stops the slots not yet issued; the credits already granted stay", async () => {
    const { sub, year, slots } = await paidYear();
    const month1 = slots[1];
    if (!month1) throw new Error("no slots");
    // Slot 1 came due while the subscription was live; it ended (cancelled at once) a minute later.
    const endedAt = new Date(month1.start.getTime() + 60_000);
    await cancelledAt(sub, year, endedAt);

    // The job ran two minutes after slot 1 began: it began while the subscription was live, so it is
    // granted although the subscription has ended since.
    const run = await issueDueSlots(database.db, {
      now: new Date(month1.start.getTime() + 120_000),
      subscriptionId: sub.row.id,
    });
    expect(run).toMatchObject({ granted: 1, stopped: 0 });
    // Every later slot began after the end: by the year's end all ten are stopped, nothing more granted.
    const end = await issueDueSlots(database.db, {
      now: new Date(year.end.getTime() - 1000),
      subscriptionId: sub.row.id,
    });
    expect(end).toMatchObject({ granted: 0, stopped: 10 });
    const rows = await slotsOf(sub.row.id);
    expect(rows.map((row) => row.status)).toEqual(["granted", "granted", ...Array(10).fill("stopped")]);
    expect(rows.slice(2).every((row) => row.credits === 0 && row.entryId === null)).toBe(true);
    expect((await entriesOf(sub.userId, "subscription")).map((entry) => entry.amount)).toEqual([1000, 1000]);
    // Granted credits are kept until they expire (slot 1's are still live by the real clock).
    expect(await balanceOf(database.db, sub.userId)).toBeGreaterThanOrEqual(1000);
  });

  it("a slot found only after its month ended (the job was down) is issued late, once, usable until the slot in force ends", async () => {
    const { sub, slots } = await paidYear();
    const [, month1, month2, month3] = slots;
    if (!month1 || !month2 || !month3) throw new Error("no slots");
    // The job was down through slot 1's whole month and runs again a second into slot 2.
    const run = await issueDueSlots(database.db, {
      now: plusSecond(month2.start),
      subscriptionId: sub.row.id,
    });
    expect(run).toMatchObject({ granted: 1, grantedLate: 1, stopped: 0 });
    const rows = await slotsOf(sub.row.id);
    expect(rows.map((row) => [row.status, row.credits]).slice(0, 4)).toEqual([
      ["granted", 1000],
      ["granted", 1000],
      ["granted", 1000],
      ["scheduled", 1000],
    ]);
    // Slot 1's lot lives until the end of the slot in force (slot 2), not until its own ended month.
    expect(rows[1]?.lotExpiresAt).toEqual(month2.end);
    const lotOf = async (lotId: string | null | undefined) =>
      (
        await database.db
          .select()
          .from(creditLot)
          .where(eq(creditLot.id, lotId ?? ""))
      )[0];
    expect((await lotOf(rows[1]?.lotId))?.expiresAt).toEqual(month2.end);
    expect((await lotOf(rows[2]?.lotId))?.expiresAt).toEqual(month2.end);
    expect(rows[2]?.lotExpiresAt).toBeNull();
    // No carry into the late slot, nor out of it into slot 2: its credits already outlive its month.
    expect(await entriesOf(sub.userId, "rollover")).toEqual([]);

    // The history says it was issued late (the customer paid on time), and until when it is usable.
    const grants = await entriesOf(sub.userId, "subscription");
    expect(grants.map((entry) => entry.amount)).toEqual([1000, 1000, 1000]);
    const late = grants[1];
    expect(late?.description).toMatch(/, issued late: usable until \d{4}-\d{2}-\d{2}$/);
    expect(late?.description).toContain(month2.end.toISOString().slice(0, 10));
    expect(late?.metadata).toMatchObject({ issuedLate: true, lotExpiresAt: month2.end.toISOString() });
    expect(late?.metadata).not.toHaveProperty("paidLate");
    const history = await listTransactions(database.db, { userId: sub.userId });
    expect(history.items.find((item) => item.id === String(late?.id))).toMatchObject({
      lateReason: "issued_late",
      usableUntil: month2.end.toISOString(),
    });
    expect(history.items.filter((item) => item.lateReason !== null)).toHaveLength(1);

    // Run again (a restart, a second instance): nothing more.
    expect(
      await issueDueSlots(database.db, { now: plusSecond(month2.start), subscriptionId: sub.row.id }),
    ).toEqual({ granted: 0, grantedLate: 0, stopped: 0, held: 0, skipped: 0 });
    expect(await entriesOf(sub.userId, "subscription")).toHaveLength(3);
    // The next slot comes on time, as a normal month: its lot ends with it.
    expect(
      await issueDueSlots(database.db, { now: plusSecond(month3.start), subscriptionId: sub.row.id }),
    ).toMatchObject({ granted: 1, grantedLate: 0 });
    const after = await slotsOf(sub.row.id);
    expect(after[3]).toMatchObject({ status: "granted", lotExpiresAt: null });
    expect((await lotOf(after[3]?.lotId))?.expiresAt).toEqual(month3.end);
    expect(await entriesOf(sub.userId, "subscription")).toHaveLength(4);
    expect(
      (await verifySubscriptions(database.db)).filter((violation) => violation.userId === sub.userId),
    ).toEqual([]);
  });

  it("a subscription canceled after a slot began: that slot, found after its month ended, is issued late for its own length from now; the next is stopped", async () => {
    const { sub, year, slots } = await paidYear();
    const [, month1, month2] = slots;
    if (!month1 || !month2) throw new Error("no slots");
    // Cancelled at once a minute into slot 1: slot 1 began while the subscription was live.
    const endedAt = new Date(month1.start.getTime() + 60_000);
    await cancelledAt(sub, year, endedAt);

    // The job gets to slot 1 only after its month ended.
    const now = plusSecond(month2.start);
    const run = await issueDueSlots(database.db, { now, subscriptionId: sub.row.id });
    expect(run).toMatchObject({ granted: 0, grantedLate: 1, stopped: 1 });
    const rows = await slotsOf(sub.row.id);
    expect(rows.map((row) => row.status).slice(0, 3)).toEqual(["granted", "granted", "stopped"]);
    // No slot is in force any more: the credits get slot 1's own length, counted from now.
    const ownLength = month1.end.getTime() - month1.start.getTime();
    expect(rows[1]?.lotExpiresAt).toEqual(new Date(now.getTime() + ownLength));
    const [lot] = await database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.id, rows[1]?.lotId ?? ""));
    expect(lot).toMatchObject({ credits: 1000, expiresAt: new Date(now.getTime() + ownLength) });
    expect((await entriesOf(sub.userId, "subscription")).map((entry) => entry.amount)).toEqual([1000, 1000]);
    // Again: nothing more.
    expect(await issueDueSlots(database.db, { now, subscriptionId: sub.row.id })).toMatchObject({
      granted: 0,
      grantedLate: 0,
      stopped: 0,
    });
  });

  it("verify notices a slot whose lot ends elsewhere, a year with a slot missing, and overlapping granted slots", async () => {
    const { sub, invoice } = await paidYear();
    const checksAfter = (corrupt: (tx: typeof database.db) => Promise<unknown>) =>
      database.db
        .transaction(async (tx) => {
          await corrupt(tx);
          const found = (await verifySubscriptions(tx)).map((violation) => violation.check);
          throw Object.assign(new Error("rolled back"), { found });
        })
        .catch((error: { found?: string[] }) => error.found ?? []);
    const [slot0] = await slotsOf(sub.row.id);
    if (!slot0?.lotId) throw new Error("no granted slot");

    expect(
      await checksAfter((tx) =>
        tx
          .update(creditLot)
          .set({ expiresAt: addMonthsClamped(slot0.periodEnd, 11) })
          .where(eq(creditLot.id, slot0.lotId ?? "")),
      ),
    ).toContain("subscription_grant_recorded");
    expect(
      await checksAfter((tx) =>
        tx
          .delete(subscriptionPeriodGrant)
          .where(
            and(
              eq(subscriptionPeriodGrant.invoiceId, invoice.id as string),
              eq(subscriptionPeriodGrant.slotIndex, 5),
            ),
          ),
      ),
    ).toContain("slot_year_complete");
    // A second invoice's slot granted over the same month: a mid-year slot of another year, and another
    // year's first slot from the same start (a new year's first slot beginning inside a month granted
    // before it is a cycle reset, yearly → monthly → yearly, and both months stay the customer's).
    expect(
      await checksAfter((tx) =>
        tx.insert(subscriptionPeriodGrant).values({
          ...slot0,
          invoiceId: testId("in"),
          slotIndex: 3,
          periodStart: new Date(slot0.periodStart.getTime() + 86_400_000),
          periodEnd: new Date(slot0.periodEnd.getTime() + 86_400_000),
        }),
      ),
    ).toContain("slot_grants_disjoint");
    expect(
      await checksAfter((tx) =>
        tx.insert(subscriptionPeriodGrant).values({ ...slot0, invoiceId: testId("in") }),
      ),
    ).toContain("slot_grants_disjoint");
  });

  it.runIf(kind === "postgres")(
    "the subscription-credits job is scheduled every minute in pg-boss, once for every instance",
    async () => {
      const url = database.url;
      if (!url) throw new Error("no database url");
      const stops = [await startJobs(database, url), await startJobs(database, url)];
      try {
        const schedules = (await database.db.execute(
          sql`SELECT name, cron FROM pgboss.schedule WHERE name = ${SUBSCRIPTION_CREDITS_QUEUE}`,
        )) as unknown as { rows: { name: string; cron: string }[] };
        expect(schedules.rows).toEqual([{ name: SUBSCRIPTION_CREDITS_QUEUE, cron: "* * * * *" }]);
      } finally {
        for (const stop of stops) await stop();
      }
    },
    60_000,
  );
});

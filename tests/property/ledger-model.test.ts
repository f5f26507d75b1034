import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { clawBackCredits } from "../../src/credits/claw-back-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { HoldNotOpenError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { releaseHold } from "../../src/credits/release-hold";
import { runSweep } from "../../src/jobs/run-sweep";
import { seedUser } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";

/**
 * Random sequences of ledger operations run against the real implementation and against a small
 * in-memory model of the rules (draw order, holds, expiry, clawbacks and debt). After every step the
 * balance, held, available and debt must agree, and so must every operation's outcome.
 */

const HOUR = 3_600_000;

type Op =
  | { kind: "grant"; amount: number; expireHours: number | null }
  | { kind: "consume"; amount: number }
  | { kind: "hold"; amount: number; ttlHours: number }
  | { kind: "capture"; hold: number; fraction: number }
  | { kind: "release"; hold: number }
  | { kind: "clawback"; amount: number; lot: number }
  | { kind: "advance"; hours: number }
  | { kind: "sweep" };

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
);

type ModelLot = { id: string; seq: number; remaining: number; expiresAt: number | null; createdAt: number };
type ModelHold = {
  id: string;
  amount: number;
  draws: { lot: ModelLot; amount: number }[];
  expiresAt: number;
  open: boolean;
  closedAs?: { kind: "capture" | "release" | "expired"; keep: number };
};

class Model {
  lots: ModelLot[] = [];
  holds: ModelHold[] = [];
  debt = 0;
  private seq = 0;

  private live(now: number) {
    return this.lots
      .filter((lot) => lot.remaining > 0 && (lot.expiresAt === null || lot.expiresAt > now))
      .sort(
        (a, b) =>
          (a.expiresAt ?? Number.POSITIVE_INFINITY) - (b.expiresAt ?? Number.POSITIVE_INFINITY) ||
          a.createdAt - b.createdAt ||
          a.seq - b.seq,
      );
  }
  private expire(now: number) {
    for (const lot of this.lots) if (lot.expiresAt !== null && lot.expiresAt <= now) lot.remaining = 0;
  }
  available(now: number) {
    return this.live(now).reduce((sum, lot) => sum + lot.remaining, 0);
  }
  held() {
    return this.holds.filter((hold) => hold.open).reduce((sum, hold) => sum + hold.amount, 0);
  }
  balance(now: number) {
    return this.available(now) + this.held();
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
  grant(id: string, amount: number, expiresAt: number | null, now: number) {
    this.expire(now);
    const lot = { id, seq: this.seq++, remaining: amount, expiresAt, createdAt: now };
    this.lots.push(lot);
    const repay = Math.min(this.debt, amount);
    lot.remaining -= repay;
    this.debt -= repay;
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
    hold.closedAs = { kind, keep };
    let left = keep;
    for (const draw of hold.draws) {
      const kept = Math.min(draw.amount, left);
      left -= kept;
      draw.lot.remaining += draw.amount - kept;
    }
    hold.open = false;
    this.expire(now);
  }
  clawback(amount: number, preferred: ModelLot | undefined, now: number) {
    this.expire(now);
    let left = amount;
    if (preferred && preferred.remaining > 0 && (preferred.expiresAt === null || preferred.expiresAt > now)) {
      const take = Math.min(preferred.remaining, left);
      preferred.remaining -= take;
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

describe.each(databaseKinds())("ledger against a model on %s", (kind) => {
  const database = useTestDatabase(kind);

  it("agrees with the model after every step of random operation sequences", async () => {
    const seed = Number(process.env.PROPERTY_SEED ?? Date.now() % 2 ** 31);
    console.log(`ledger model property: seed ${seed} (rerun with PROPERTY_SEED=${seed})`);
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const db = database.db;
        const userId = await seedUser(db);
        const model = new Model();
        let now = Date.UTC(2032, 0, 1);
        let step = 0;
        for (const op of ops) {
          step++;
          const key = `op-${step}`;
          const at = new Date(now);
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
              try {
                if (op.kind === "capture") await captureHold(db, { holdId: hold.id, amount: keep }, at);
                else await releaseHold(db, { holdId: hold.id }, at);
                expect(expectOk, `step ${step} ${op.kind} should have been refused`).toBe(true);
                if (hold.open) model.settle(hold, keep, now, op.kind);
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
              model.clawback(op.amount, lot, now);
              break;
            }
            case "advance":
              now += op.hours * HOUR;
              break;
            case "sweep":
              await runSweep(db, at);
              model.sweep(now);
              break;
          }
          const actual = await getBalance(db, userId, new Date(now));
          expect(actual, `after step ${step} (${JSON.stringify(op)})`).toEqual({
            balance: model.balance(now),
            held: model.held(),
            available: model.available(now),
            debt: model.debt,
          });
        }
      }),
      { numRuns: kind === "pglite" ? 30 : 20, seed },
    );
  });
});

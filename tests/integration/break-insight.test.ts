import { parse } from "csv-parse/sync";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { applyBulkBatch, queueBulkBatch } from "../../src/admin/bulk/apply-bulk-batch";
import { previewBulkFile } from "../../src/admin/bulk/preview-bulk-file";
import { getLedgerOverview } from "../../src/admin/get-ledger-overview";
import type { Actor } from "../../src/audit/record-audit";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { getCreditUsage } from "../../src/credits/get-credit-usage";
import { listTransactions } from "../../src/credits/list-transactions";
import { releaseHold } from "../../src/credits/release-hold";
import { setLowBalanceThreshold } from "../../src/credits/set-low-balance-threshold";
import { sweepExpiredLots } from "../../src/credits/sweep-expired-lots";
import { bulkBatch, bulkRow, emailOutbox, user } from "../../src/db/schema";
import type { Database, DatabaseOrTransaction } from "../../src/db/types";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import getLowBalanceAlertRoute from "../../src/routes/credits/get-low-balance-alert";
import setLowBalanceAlertRoute from "../../src/routes/credits/set-low-balance-alert";
import { exportTransactionsCsv } from "../../src/server/export-transactions-csv";
import { useAppDatabase } from "../support/app-database";
import { APP_ORIGIN, appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import {
  adminOverviewGet,
  adminTransactionsExportGet,
  handlerOf,
  transactionsExportGet,
  transactionsGet,
  usageGet,
} from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { chargeObject, paymentIntentObject, stripeEventPayload, testId } from "../support/stripe-events";
import { deliverSignedPayload } from "../support/stripe-subscriptions";
import { subscribeAndPay } from "../support/subscriptions";
import { databaseKinds } from "../support/test-database";

/**
 * Hostile and careless use of issue 11's insight features: low-balance alerts, history filters and CSV
 * export, usage analytics, the operators' overview and bulk grants. "findings" fail on the code they were
 * written against (each names the fault); "held" are attacks that did not break anything.
 */

const serverEnv = configureServerEnv({
  SIGNUP_GIFT_CREDITS: "0",
  RATE_LIMIT_EXPORTS_PER_MINUTE: "1000",
  RATE_LIMIT_PURCHASES_PER_MINUTE: "100",
});
afterAll(() => serverEnv.cleanup());

const alertGet = handlerOf(getLowBalanceAlertRoute);
const alertPut = handlerOf(setLowBalanceAlertRoute);

const operator: Actor = { userId: "op-insight", label: "ops@example.test" };

type AlertAnswer = {
  effectiveThreshold: number | null;
  available: number;
  low: boolean;
  crossedAt: string | null;
};

async function* bytes(text: string | Uint8Array, pieces = 5): AsyncIterable<Uint8Array> {
  const all = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const size = Math.max(1, Math.ceil(all.length / pieces));
  for (let at = 0; at < all.length; at += size) yield all.subarray(at, at + size);
}

async function lowBalanceEmails(db: Database, userId: string): Promise<number> {
  const rows = await db
    .select()
    .from(emailOutbox)
    .where(and(eq(emailOutbox.userId, userId), eq(emailOutbox.kind, "low_balance")));
  return rows.length;
}

const spend = (db: DatabaseOrTransaction, userId: string, amount: number, key: string, now?: Date) =>
  consumeCredits(db, { userId, amount, description: "spend", idempotencyKey: key }, now);
const grant = (
  db: DatabaseOrTransaction,
  userId: string,
  amount: number,
  key: string,
  extra: object = {},
  now?: Date,
) =>
  addCredits(db, { userId, amount, type: "grant", description: "grant", idempotencyKey: key, ...extra }, now);

async function queryRows<T>(db: Database, query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

describe.each(databaseKinds())("issue 11 insight features under attack (%s)", (kind) => {
  const database = useAppDatabase(kind);
  let counter = 0;
  const newUser = () => signUp(`insight-${kind}-${Date.now()}-${++counter}@example.test`, "Ada");
  const putAlert = async (who: SignedUpUser, body: unknown) =>
    readJson<AlertAnswer>(
      await alertPut(
        appRequest("/api/credits/low-balance-alert", { cookie: who.cookie, method: "PUT", json: body }),
      ),
    );
  const getAlert = async (who: SignedUpUser) =>
    (
      await readJson<AlertAnswer>(
        await alertGet(appRequest("/api/credits/low-balance-alert", { cookie: who.cookie })),
      )
    ).body;

  /** Asks `path?<query>` with `cookie` for each query: every one must answer 400, not a server error. */
  async function expectEach400(
    handler: (request: Request) => Promise<Response>,
    path: string,
    cookie: string,
    queries: readonly string[],
  ) {
    for (const q of queries) {
      const response = await handler(appRequest(`${path}?${q}`, { cookie }));
      expect({ q, status: response.status }).toEqual({ q, status: 400 });
    }
  }

  async function makeAdmin(): Promise<SignedUpUser> {
    const admin = await newUser();
    await database.db.update(user).set({ role: "admin", emailVerified: true }).where(eq(user.id, admin.id));
    return admin;
  }

  async function deliver(type: string, object: Record<string, unknown>, created: number): Promise<number> {
    return (await deliverSignedPayload(stripeEventPayload(type, object, testId("evt"), created))).status;
  }

  /** A sandbox purchase of the standard package, paid by a signed payment_intent.succeeded. */
  async function buy(userId: string) {
    const db = database.db;
    const created = await createCreditPurchase(db, new SandboxPaymentProvider(db), {
      userId,
      packageId: "standard",
    });
    const [row] = await queryRows<{ amount: number; currency: string; credits: number }>(
      db,
      sql`SELECT amount, currency, credits FROM credit_purchase WHERE id = ${created.purchaseId}`,
    );
    if (!row) throw new Error("no purchase row");
    const t0 = Math.floor(Date.now() / 1000) - 3600;
    const meta = { purchaseId: created.purchaseId, userId, packageId: "standard" };
    const pi = created.paymentIntentId;
    expect(
      await deliver(
        "payment_intent.succeeded",
        paymentIntentObject({ id: pi, amount: row.amount, currency: row.currency, metadata: meta }),
        t0,
      ),
    ).toBe(200);
    return { pi, t0, ...row };
  }

  describe("findings", () => {
    it("alerts: a percentage threshold lowered by the plan ending while marked still alerts on the next downward crossing", async () => {
      const db = database.db;
      const who = await newUser();
      expect((await putAlert(who, { threshold: { percent: 10 }, locale: "en" })).status).toBe(200);
      expect((await subscribeAndPay(who, "pro-monthly")).paidStatus).toBe(200);
      const onPro = await getAlert(who);
      expect(onPro.effectiveThreshold).toBe(100); // 10% of Pro's 1,000
      await spend(db, who.id, onPro.available - 99, "to-99"); // 99 < 100: crossed, marked
      expect(await lowBalanceEmails(db, who.id)).toBe(1);
      // The subscription ends (customer.subscription.deleted at the period's end): Free is in force, and
      // 10% of Free's 50 credits is 5. The balance (99) is now well above the threshold: no banner.
      await db.execute(sql`UPDATE subscription SET status = 'canceled' WHERE user_id = ${who.id}`);
      expect(await getAlert(who)).toMatchObject({ effectiveThreshold: 5, available: 99, low: false });
      // 99 -> 4 crosses the threshold in force (5) downwards: one email, and the banner.
      await spend(db, who.id, 95, "to-4");
      expect(await getAlert(who)).toMatchObject({ available: 4, low: true });
      expect(await lowBalanceEmails(db, who.id)).toBe(2);
    });

    it("bulk: one row whose account was deleted after the preview does not stall the rest of the batch", async () => {
      const db = database.db;
      const gone = await seedUser(db);
      const stays = await seedUser(db);
      const csv = `user_id,amount,reason\n${gone},10,spring gift\n${stays},20,spring gift\n`;
      const { batchId } = await previewBulkFile(db, { fileName: "gift.csv", body: bytes(csv) }, operator);
      // The user closes their account between the preview and the apply (the ledger goes with it).
      await db.delete(user).where(eq(user.id, gone));
      expect(await queueBulkBatch(db, batchId, operator)).toBe(true);
      const outcome = await applyBulkBatch(db, batchId).then(
        () => "finished",
        (error: unknown) => `threw: ${(error as Error).message.slice(0, 120)}`,
      );
      // The job is retried after a throw, and each retry stops at the same row: the batch never ends.
      expect(outcome).toBe("finished");
      expect((await getBalance(db, stays)).balance).toBe(20);
      const [batch] = await db.select().from(bulkBatch).where(eq(bulkBatch.id, batchId));
      expect(batch?.status).toBe("done");
    });

    it("bulk: the same rows re-saved by a spreadsheet (BOM, CRLF line ends) and uploaded again grant nothing twice", async () => {
      const db = database.db;
      const target = await seedUser(db);
      const rows = ["user_id,amount,reason", `${target},40,launch gift`];
      const first = await previewBulkFile(
        db,
        { fileName: "gift.csv", body: bytes(`${rows.join("\n")}\n`) },
        operator,
      );
      await queueBulkBatch(db, first.batchId, operator);
      await applyBulkBatch(db, first.batchId);
      expect((await getBalance(db, target)).balance).toBe(40);
      // Opened in a spreadsheet and saved again as CSV: same rows, other bytes.
      const resaved = `\uFEFF${rows.join("\r\n")}\r\n`;
      const second = await previewBulkFile(db, { fileName: "gift.csv", body: bytes(resaved) }, operator);
      await queueBulkBatch(db, second.batchId, operator);
      await applyBulkBatch(db, second.batchId);
      expect((await getBalance(db, target)).balance).toBe(40);
    });

    it("bulk: a row with more fields than the header (an unquoted comma in the reason) is refused, not cut short", async () => {
      const db = database.db;
      const target = await seedUser(db);
      const csv = `user_id,amount,reason\n${target},5,duplicate charge, corrected\n`;
      const { batchId } = await previewBulkFile(db, { fileName: "comma.csv", body: bytes(csv) }, operator);
      const [row] = await db.select().from(bulkRow).where(eq(bulkRow.batchId, batchId));
      // Applied as it stands, the ledger and the audit log would say "duplicate charge" and nothing more.
      expect([row?.status, row?.reason]).not.toEqual(["valid", "duplicate charge"]);
    });

    it("bulk: a revoke the account can cover is not refused because an earlier, refused revoke could not", async () => {
      const db = database.db;
      const target = await seedUser(db);
      await grant(db, target, 100, "seed");
      const csv = `user_id,amount,reason\n${target},-150,typo in the amount\n${target},-50,real correction\n`;
      const { batchId } = await previewBulkFile(db, { fileName: "revoke.csv", body: bytes(csv) }, operator);
      const rows = await db
        .select()
        .from(bulkRow)
        .where(eq(bulkRow.batchId, batchId))
        .orderBy(bulkRow.rowNumber);
      // Row 1 is refused, so nothing of it is taken: row 2 (50 of the 100 available) can be applied.
      expect(rows.map((r) => [r.rowNumber, r.error])).toEqual([
        [1, "insufficient_credits"],
        [2, null],
      ]);
    });

    it("overview: the period's flows reconcile with the liability after a refund's debt is repaid", async () => {
      const db = database.db;
      const liability = async () => {
        const o = await getLedgerOverview(db, { days: 7 });
        const t = o.totals;
        const granted = t.granted.gift + t.granted.grant + t.granted.plan + t.granted.other;
        return {
          net: t.sold + granted + t.reinstated - t.consumed - t.expired - t.clawedBack,
          owned: o.outstanding.total - o.outstanding.debt,
        };
      };
      const before = await liability();
      const buyer = await seedUser(db);
      const bought = await buy(buyer);
      await spend(db, buyer, bought.credits - 10, "most-of-it");
      // A full refund: the 10 left are taken back and the rest becomes debt.
      const charge = chargeObject({
        id: `ch_${bought.pi}`,
        amount: bought.amount,
        currency: bought.currency,
        payment_intent: bought.pi,
        amount_refunded: bought.amount,
      });
      expect(await deliver("charge.refunded", charge, bought.t0 + 10)).toBe(200);
      expect((await getBalance(db, buyer)).debt).toBe(bought.credits - 10);
      const owing = await liability();
      expect(owing.net - before.net).toBe(owing.owned - before.owned);
      // A grant repays the debt first.
      await grant(db, buyer, 2 * bought.credits, "make-good");
      expect((await getBalance(db, buyer)).debt).toBe(0);
      const after = await liability();
      // Every credit that came in or went out once: in - out = change of (balance - debt).
      expect(after.net - before.net).toBe(after.owned - before.owned);
    });

    it("usage: a time zone the runtime and PostgreSQL read differently (CET in summer) buckets spends on the reader's day", async () => {
      const db = database.db;
      const reader = await seedUser(db);
      await grant(db, reader, 100, "g", {}, new Date("2026-06-20T00:00:00Z"));
      // 22:30 UTC on 1 July is 00:30 on 2 July in CET's summer time (CEST, UTC+2).
      const spentAt = new Date("2026-07-01T22:30:00Z");
      await spend(db, reader, 7, "late", spentAt);
      const readerDay = new Intl.DateTimeFormat("en-CA", { timeZone: "CET" }).format(spentAt);
      expect(readerDay).toBe("2026-07-02");
      const usage = await getCreditUsage(
        db,
        { userId: reader, rangeDays: 7, timeZone: "CET" },
        new Date("2026-07-05T12:00:00Z"),
      );
      expect(usage.days.filter((day) => day.spent > 0).map((day) => day.date)).toEqual([readerDay]);
    });
  });

  describe("held", () => {
    it("overview: an impossible calendar date is a 400, not a server error", async () => {
      const admin = await makeAdmin();
      await expectEach400(adminOverviewGet, "/api/admin/overview", admin.cookie, [
        "from=2026-02-30&to=2026-03-02",
        "from=2026-01-01&to=2026-13-01",
        "from=0000-01-01&to=0000-01-02",
      ]);
    });

    it("history: a search is case-insensitive beyond ASCII (CAFÉ finds café)", async () => {
      const db = database.db;
      const owner = await seedUser(db);
      await grant(db, owner, 50, "g");
      await consumeCredits(db, { userId: owner, amount: 1, description: "CAFÉ CRÈME", idempotencyKey: "c" });
      const page = await listTransactions(db, { userId: owner, filter: { search: "café crème" } });
      expect(page.items.map((item) => item.description)).toEqual(["CAFÉ CRÈME"]);
    });

    it("history: an impossible calendar date in a filter is a 400, not a server error", async () => {
      const owner = await newUser();
      for (const q of ["from=2026-02-30T00:00:00Z", "to=2026-04-31T00:00:00%2B08:00"]) {
        const listed = await transactionsGet(
          appRequest(`/api/credits/transactions?${q}`, { cookie: owner.cookie }),
        );
        expect({ q, status: listed.status }).toEqual({ q, status: 400 });
        const exported = await transactionsExportGet(
          appRequest(`/api/credits/transactions/export?${q}`, { cookie: owner.cookie }),
        );
        expect({ q, status: exported.status }).toEqual({ q, status: 400 });
      }
    });
    it("alerts: a hold crossing fires once; its capture and a replay fire nothing; the release re-arms", async () => {
      const db = database.db;
      const who = await newUser();
      await grant(db, who.id, 100, "g");
      await putAlert(who, { threshold: { credits: 50 } });
      const hold = await createHold(db, {
        userId: who.id,
        amount: 60,
        description: "render",
        idempotencyKey: "h",
        ttlSeconds: 600,
      });
      if (!hold.ok) throw new Error("hold refused");
      await createHold(db, {
        userId: who.id,
        amount: 60,
        description: "render",
        idempotencyKey: "h",
        ttlSeconds: 600,
      });
      expect(await lowBalanceEmails(db, who.id)).toBe(1);
      await captureHold(db, { holdId: hold.holdId, amount: 30 }); // 30 back: 70 available, re-armed
      expect(await getAlert(who)).toMatchObject({ available: 70, low: false });
      const second = await createHold(db, {
        userId: who.id,
        amount: 30,
        description: "render",
        idempotencyKey: "h2",
        ttlSeconds: 600,
      });
      if (!second.ok) throw new Error("hold refused");
      expect(await lowBalanceEmails(db, who.id)).toBe(2);
      await releaseHold(db, { holdId: second.holdId });
      expect(await getAlert(who)).toMatchObject({ available: 70, low: false });
      expect(await lowBalanceEmails(db, who.id)).toBe(2);
    });

    it("alerts: concurrent spends crossing with a rollback and an expiry sweep send one email per crossing", async () => {
      const db = database.db;
      const who = await newUser();
      const past = new Date(Date.now() - 2 * 86_400_000);
      await grant(db, who.id, 40, "short", { expiresAt: new Date(past.getTime() + 86_400_000) }, past);
      await grant(db, who.id, 100, "long");
      await putAlert(who, { threshold: { credits: 80 } });
      // A crossing spend that rolls back takes its email with it.
      await db
        .transaction(async (tx) => {
          await spend(tx, who.id, 100, "rolled");
          throw new Error("rollback");
        })
        .catch(() => undefined);
      expect(await lowBalanceEmails(db, who.id)).toBe(0);
      await sweepExpiredLots(db); // 140 -> 100 (the lazy expiry would do the same on the next spend)
      await Promise.all(Array.from({ length: 10 }, (_, i) => spend(db, who.id, 5, `s${i}`))); // 100 -> 50
      expect(await lowBalanceEmails(db, who.id)).toBe(1);
    });

    it("alerts: thresholds that are not whole credits >= 1 or 1-100% are refused by the route and the database", async () => {
      const who = await newUser();
      for (const threshold of [
        { credits: 0 },
        { credits: -5 },
        { credits: 1.5 },
        { credits: 1e12 },
        { credits: "50" },
        { percent: 0 },
        { percent: 101 },
        { percent: 12.5 },
        { credits: 5, percent: 5 },
      ]) {
        expect({ threshold, status: (await putAlert(who, { threshold })).status }).toEqual({
          threshold,
          status: 400,
        });
      }
      await expect(
        database.db.transaction((tx) => setLowBalanceThreshold(tx, { userId: who.id, threshold: 0 })),
      ).rejects.toThrow();
    });

    it("history: another user's entries never show (unknown query keys are refused), an unknown user is 404 to operators", async () => {
      const owner = await newUser();
      const other = await newUser();
      await grant(database.db, other.id, 5, "g");
      const sneaky = await transactionsGet(
        appRequest(`/api/credits/transactions?userId=${other.id}`, { cookie: owner.cookie }),
      );
      expect(sneaky.status).toBe(400);
      const exported = await transactionsExportGet(
        appRequest(`/api/credits/transactions/export?userId=${other.id}`, { cookie: owner.cookie }),
      );
      expect(exported.status).toBe(400);
      const admin = await makeAdmin();
      const missing = await adminTransactionsExportGet(
        new Request(`${APP_ORIGIN}/api/admin/users/nobody/transactions/export`, {
          headers: { cookie: admin.cookie },
        }),
      );
      expect([404]).toContain(missing.status);
    });

    it("history: % _ and \\ match literally; tampered cursors, reversed ranges and long searches are 400", async () => {
      const db = database.db;
      const owner = await newUser();
      await grant(db, owner.id, 50, "g");
      for (const [key, description] of [
        ["a", "50% off"],
        ["b", "file_name"],
        ["c", "back\\slash"],
        ["d", "plain"],
      ])
        await consumeCredits(db, {
          userId: owner.id,
          amount: 1,
          description: description as string,
          idempotencyKey: key as string,
        });
      const search = async (q: string) => {
        const r = await readJson<{ items: { description: string }[] }>(
          await transactionsGet(
            appRequest(`/api/credits/transactions?search=${encodeURIComponent(q)}`, { cookie: owner.cookie }),
          ),
        );
        return r.body.items.map((i) => i.description);
      };
      expect(await search("%")).toEqual(["50% off"]);
      expect(await search("_")).toEqual(["file_name"]);
      expect(await search("\\")).toEqual(["back\\slash"]);
      await expectEach400(transactionsGet, "/api/credits/transactions", owner.cookie, [
        "cursor=abc",
        "cursor=-1",
        "cursor=1e3",
        "cursor=1234567890123456",
        "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        `search=${"x".repeat(201)}`,
        "from=2026-12-01",
        "type=bogus",
      ]);
    });

    it("export: every text cell that a spreadsheet would evaluate is neutralised", async () => {
      const db = database.db;
      const owner = await newUser();
      await grant(db, owner.id, 50, "g");
      const payloads = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tX", "\r=1"];
      for (const [i, text] of payloads.entries())
        await consumeCredits(db, {
          userId: owner.id,
          amount: 1,
          description: text,
          idempotencyKey: `-k${i}`,
          metadata: { feature: text },
        });
      const response = await transactionsExportGet(
        appRequest("/api/credits/transactions/export", { cookie: owner.cookie }),
      );
      const records = parse(await response.text(), { bom: true }) as string[][];
      const header = records[0] ?? [];
      for (const record of records.slice(1))
        for (const column of ["type", "feature", "description", "idempotency_key", "reference"])
          expect(record[header.indexOf(column)] ?? "").not.toMatch(/^[=+\-@\t\r]/);
    });

    it("export: rows written while a download is under way are not in it, and none repeats or goes missing", async () => {
      const db = database.db;
      const owner = await seedUser(db);
      await grant(db, owner, 1000, "g");
      for (let i = 0; i < 9; i++) await spend(db, owner, 1, `before-${i}`);
      const reader = exportTransactionsCsv(db, { userId: owner, batchSize: 3 }).getReader();
      const chunks: Uint8Array[] = [];
      const first = await reader.read();
      if (first.value) chunks.push(first.value);
      await Promise.all(Array.from({ length: 6 }, (_, i) => spend(db, owner, 1, `during-${i}`)));
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        chunks.push(next.value);
      }
      const text = Buffer.concat(chunks).toString("utf8");
      const records = (parse(text, { bom: true }) as string[][]).slice(1);
      expect(records).toHaveLength(10);
      expect(new Set(records.map((r) => r[0])).size).toBe(10);
    });

    it("usage: other ranges and non-IANA zones are 400; an empty account answers zeros", async () => {
      const who = await newUser();
      await expectEach400(usageGet, "/api/credits/usage", who.cookie, [
        "range=14",
        "range=7.0",
        "timeZone=XYZ%2B3",
        "timeZone=GMT%2B3",
        "timeZone=%2B08:00",
        "timeZone=Mars/Olympus",
      ]);
      const empty = await readJson<{
        totals: { spent: number };
        forecast: { available: number; daysLeft: number | null };
      }>(
        await usageGet(
          appRequest("/api/credits/usage?range=90&timeZone=Pacific/Kiritimati", { cookie: who.cookie }),
        ),
      );
      expect(empty.status).toBe(200);
      expect(empty.body.totals.spent).toBe(0);
      expect(empty.body.forecast).toMatchObject({ available: 0, daysLeft: null });
    });

    it("usage: the forecast counts an expiring lot only as far as the pace reaches it", async () => {
      const db = database.db;
      const reader = await seedUser(db);
      const now = new Date("2026-08-15T12:00:00Z");
      const day = 86_400_000;
      await grant(
        db,
        reader,
        100,
        "soon",
        { expiresAt: new Date(now.getTime() + 3 * day) },
        new Date(now.getTime() - 20 * day),
      );
      await grant(db, reader, 100, "never", {}, new Date(now.getTime() - 20 * day));
      await spend(db, reader, 28, "pace", new Date(now.getTime() - 5 * day)); // 2 a day over 14 days
      const usage = await getCreditUsage(db, { userId: reader, rangeDays: 30, timeZone: "UTC" }, now);
      // The expiring lot (72 left) gives 6 credits in its 3 days, 66 expire unused; the other 100 last 50 days.
      expect(usage.forecast).toMatchObject({
        spentInWindow: 28,
        available: 172,
        expiresUnused: 66,
        daysLeft: 53,
      });
    });

    it("overview: non-admins get 404; from after to and spans beyond five years are 400", async () => {
      const who = await newUser();
      expect((await adminOverviewGet(appRequest("/api/admin/overview", { cookie: who.cookie }))).status).toBe(
        404,
      );
      const admin = await makeAdmin();
      await expectEach400(adminOverviewGet, "/api/admin/overview", admin.cookie, [
        "from=2026-12-02&to=2026-12-01",
        "from=1900-01-01&to=2026-12-01",
        "days=14",
        "days=7&extra=1",
      ]);
      const future = await adminOverviewGet(
        appRequest("/api/admin/overview?from=2999-01-01&to=2999-01-31", { cookie: admin.cookie }),
      );
      expect(future.status).toBe(200);
    });

    it("bulk: BOM, quoted commas and newlines, email case, one user named twice, odd amounts and expiries", async () => {
      const db = database.db;
      const ada = await newUser();
      const bob = await seedUser(db);
      await grant(db, bob, 100, "seed");
      const csv = [
        "\uFEFFEmail , User_ID,amount,expires,reason",
        `"  ${ada.email.toUpperCase()} ",,+10,,"gift, with comma\nand newline"`,
        `,${ada.id},10,,"gift, with comma\nand newline"`,
        `,${bob},1e3,,odd amount`,
        `,${bob},1.5,,odd amount`,
        `,${bob},-0,,odd amount`,
        `,${bob},99999999999,,odd amount`,
        `,${bob},5,2027-02-30,bad date`,
        `,${bob},5,2001-01-01,past date`,
        `,${bob},5,0,zero days`,
        `,${bob},+50,,top up first`,
        `,${bob},-150,,take back`,
        `,${bob},-1,,one more`,
      ].join("\n");
      const { batchId } = await previewBulkFile(db, { fileName: "odd.csv", body: bytes(csv) }, operator);
      const rows = await db
        .select()
        .from(bulkRow)
        .where(eq(bulkRow.batchId, batchId))
        .orderBy(bulkRow.rowNumber);
      expect(rows.map((r) => [r.rowNumber, r.error])).toEqual([
        [1, null],
        [2, "duplicate"],
        [3, "bad_amount"],
        [4, "bad_amount"],
        [5, "bad_amount"],
        [6, "bad_amount"],
        [7, "bad_expiry"],
        [8, "bad_expiry"],
        [9, "bad_expiry"],
        [10, null],
        [11, null],
        [12, "insufficient_credits"],
      ]);
      expect(rows[0]?.reason).toBe("gift, with comma\nand newline");
    });

    it("bulk: the same file uploaded twice at once is one batch; concurrent and crashed applies grant each row once", async () => {
      const db = database.db;
      const targets = [await seedUser(db), await seedUser(db), await seedUser(db)];
      const csv = `user_id,amount,reason\n${targets.map((t) => `${t},7,twice at once`).join("\n")}\n`;
      const [a, b] = await Promise.all([
        previewBulkFile(db, { fileName: "a.csv", body: bytes(csv) }, operator),
        previewBulkFile(
          db,
          { fileName: "b.csv", body: bytes(csv) },
          { userId: "op-other", label: "other@example.test" },
        ),
      ]);
      expect(a.batchId).toBe(b.batchId);
      expect([a.existing, b.existing].sort()).toEqual([false, true]);
      await queueBulkBatch(db, a.batchId, operator);
      // A run that dies after its first chunk, then two runs at once (a retry beside the resumed job).
      await applyBulkBatch(db, a.batchId, {
        chunkRows: 1,
        afterChunk: () => {
          throw new Error("killed");
        },
      }).catch(() => undefined);
      await Promise.all([
        applyBulkBatch(db, a.batchId, { chunkRows: 1 }),
        applyBulkBatch(db, a.batchId, { chunkRows: 1 }),
      ]);
      for (const t of targets) expect((await getBalance(db, t)).balance).toBe(7);
      expect(await queueBulkBatch(db, a.batchId, operator)).toBe(false);
    });
  });
});

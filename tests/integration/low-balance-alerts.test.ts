import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPlan, PLANS } from "../../src/catalog/plans";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { setLowBalanceThreshold } from "../../src/credits/set-low-balance-threshold";
import { upsertCustomer } from "../../src/credits/upsert-customer";
import { emailOutbox } from "../../src/db/schema";
import type { Database } from "../../src/db/types";
import {
  claimDueEmails,
  EMAIL_LEASE_SECONDS,
  emailRetryDelaySeconds,
  runEmailDelivery,
} from "../../src/email/deliver-email-outbox";
import { resetMailer } from "../../src/email/mailer";
import { startJobs } from "../../src/jobs/start-jobs";
import getLowBalanceAlertRoute from "../../src/routes/credits/get-low-balance-alert";
import setLowBalanceAlertRoute from "../../src/routes/credits/set-low-balance-alert";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { handlerOf } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { type LocalSmtpServer, type ReceivedEmail, startSmtpServer } from "../support/smtp";
import { subscribeAndPay } from "../support/subscriptions";
import { databaseKinds } from "../support/test-database";

const alertGet = handlerOf(getLowBalanceAlertRoute);
const alertPut = handlerOf(setLowBalanceAlertRoute);

type AlertAnswer = {
  threshold: { credits: number } | { percent: number } | null;
  effectiveThreshold: number | null;
  available: number;
  low: boolean;
  crossedAt: string | null;
};

let smtp: LocalSmtpServer;
let cleanupEnv: () => void;

// One SMTP server for the file: the app's environment (and so its mail transport) is read once per file.
beforeAll(async () => {
  smtp = await startSmtpServer();
  cleanupEnv = configureServerEnv({
    SMTP_URL: smtp.url,
    EMAIL_FROM: "creditkit <no-reply@example.test>",
    RATE_LIMIT_PURCHASES_PER_MINUTE: "100",
  }).cleanup;
  resetMailer();
});
afterAll(async () => {
  resetMailer();
  await smtp?.close();
  cleanupEnv?.();
});

/** The low-balance alerts that reached the SMTP server for one address (the sign-up's own mail left out). */
function alertsTo(address: string): ReceivedEmail[] {
  return smtp.messages.filter(
    (message) => message.to.includes(address) && message.raw.includes("@creditkit.alerts>"),
  );
}

/** The alerts to an address once the first has arrived (the jobs send on their own schedule), within 30 s. */
async function waitForAlerts(address: string): Promise<ReceivedEmail[]> {
  const deadline = Date.now() + 30_000;
  while (alertsTo(address).length === 0) {
    if (Date.now() > deadline) throw new Error(`no low-balance alert to ${address} within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return alertsTo(address);
}

async function getAlert(user: SignedUpUser): Promise<AlertAnswer> {
  const answer = await readJson<AlertAnswer>(
    await alertGet(appRequest("/api/credits/low-balance-alert", { cookie: user.cookie }), routeContext({})),
  );
  expect(answer.status).toBe(200);
  return answer.body;
}

async function putAlert(user: SignedUpUser, body: unknown): Promise<{ status: number; body: AlertAnswer }> {
  return readJson<AlertAnswer>(
    await alertPut(
      appRequest("/api/credits/low-balance-alert", { cookie: user.cookie, method: "PUT", json: body }),
      routeContext({}),
    ),
  );
}

function grant(db: Database, userId: string, amount: number, key: string) {
  return addCredits(db, { userId, amount, type: "grant", description: "grant", idempotencyKey: key });
}

function spend(db: Database, userId: string, amount: number, key: string) {
  return db.transaction((tx) =>
    consumeCredits(tx, { userId, amount, description: "spend", idempotencyKey: key }),
  );
}

async function outboxOf(db: Database, userId: string) {
  return db.select().from(emailOutbox).where(eq(emailOutbox.userId, userId));
}

describe.each(databaseKinds())("low-balance alerts on %s", (kind) => {
  const database = useAppDatabase(kind);
  let counter = 0;
  const newUser = () => signUp(`alert-${kind}-${Date.now()}-${++counter}@example.test`, "Ada");

  it("concurrent spends across the threshold send exactly one email; replays send none", async () => {
    const user = await newUser();
    await grant(database.db, user.id, 100, "g");
    expect((await putAlert(user, { threshold: { credits: 50 }, locale: "en" })).status).toBe(200);
    // 20 spends of 5 at once take 100 to 0: exactly one of them crosses 50.
    await Promise.all(Array.from({ length: 20 }, (_, i) => spend(database.db, user.id, 5, `s${i}`)));
    // Retries of the crossing spends (same idempotency keys) answer from the ledger and change nothing.
    await Promise.all(Array.from({ length: 20 }, (_, i) => spend(database.db, user.id, 5, `s${i}`)));
    expect(await outboxOf(database.db, user.id)).toHaveLength(1);
    // Two workers drain at once, then again: still one message.
    await Promise.all([runEmailDelivery(database.db), runEmailDelivery(database.db)]);
    await runEmailDelivery(database.db);
    const mails = alertsTo(user.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe("Your credit balance is low");
    expect(mails[0]?.text).toContain("Hi Ada,");
    expect(mails[0]?.text).toContain("50 credits");
    expect(mails[0]?.text).toContain("/en/settings/credits");
    const [row] = await outboxOf(database.db, user.id);
    expect(row).toMatchObject({ status: "sent", attempts: 1 });
    expect(row?.sentAt).not.toBeNull();
  });

  it("the banner shows from the crossing until the balance is back above, and a grant re-arms the alert", async () => {
    const user = await newUser();
    await grant(database.db, user.id, 100, "g");
    await putAlert(user, { threshold: { credits: 30 }, locale: "en" });
    expect(await getAlert(user)).toMatchObject({ low: false, effectiveThreshold: 30, available: 100 });
    await spend(database.db, user.id, 60, "a"); // 40: above
    expect((await getAlert(user)).low).toBe(false);
    await spend(database.db, user.id, 20, "b"); // 20: crossed
    const low = await getAlert(user);
    expect(low).toMatchObject({ low: true, available: 20 });
    expect(low.crossedAt).not.toBeNull();
    await spend(database.db, user.id, 5, "c"); // 15: still low, no second email
    await runEmailDelivery(database.db);
    expect(alertsTo(user.email)).toHaveLength(1);

    await grant(database.db, user.id, 50, "g2"); // 65: back above, re-armed
    expect((await getAlert(user)).low).toBe(false);
    await spend(database.db, user.id, 40, "d"); // 25: crossed again
    expect((await getAlert(user)).low).toBe(true);
    await runEmailDelivery(database.db);
    expect(alertsTo(user.email)).toHaveLength(2);

    // Clearing the threshold takes the banner down and sends nothing on the next spend.
    expect((await putAlert(user, { threshold: null })).body).toMatchObject({ threshold: null, low: false });
    await grant(database.db, user.id, 100, "g3");
    await spend(database.db, user.id, 120, "e");
    await runEmailDelivery(database.db);
    expect(alertsTo(user.email)).toHaveLength(2);
  });

  it("setting a threshold the balance is already under sends nothing and shows no banner", async () => {
    const user = await newUser();
    await grant(database.db, user.id, 20, "g");
    expect((await putAlert(user, { threshold: { credits: 50 } })).body).toMatchObject({ low: false });
    await spend(database.db, user.id, 5, "a");
    await runEmailDelivery(database.db);
    expect(await outboxOf(database.db, user.id)).toHaveLength(0);
    expect((await getAlert(user)).low).toBe(false);
  });

  it("a percentage resolves against the plan in force at the spend, in the page's language", async () => {
    const user = await newUser();
    const free = PLANS.find((plan) => plan.price === null);
    const pro = findPlan("pro-monthly");
    if (!free || !pro) throw new Error("catalog without the plans this test needs");
    const percent = 10;
    const saved = await putAlert(user, { threshold: { percent }, locale: "zh" });
    expect(saved.status).toBe(200);
    // No subscription: the Free plan's monthly credits.
    expect(saved.body).toMatchObject({
      threshold: { percent },
      effectiveThreshold: Math.ceil((free.creditsPerMonth * percent) / 100),
    });

    const { paidStatus } = await subscribeAndPay(user, pro.id);
    expect(paidStatus).toBe(200);
    const expected = Math.ceil((pro.creditsPerMonth * percent) / 100);
    const before = await getAlert(user);
    expect(before.effectiveThreshold).toBe(expected);
    expect(before.available).toBeGreaterThanOrEqual(expected);
    // A spend that stays above the Pro threshold (but would be below Free's were Free in force: a
    // threshold resolved once, at set time, would fire here).
    await spend(database.db, user.id, before.available - expected, "to-threshold");
    expect((await getAlert(user)).low).toBe(false);
    await spend(database.db, user.id, 1, "across");
    expect(await getAlert(user)).toMatchObject({ low: true, available: expected - 1 });
    await runEmailDelivery(database.db);
    const mails = alertsTo(user.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe("你的积分余额不足");
    expect(mails[0]?.text).toContain(`${percent}%`);
    expect(mails[0]?.text).toContain("/zh/settings/credits");
  });

  it("a worker that dies between the commit and the send loses nothing: the next drain sends it once", async () => {
    const user = await newUser();
    await grant(database.db, user.id, 100, "g");
    await putAlert(user, { threshold: { credits: 50 } });
    await spend(database.db, user.id, 60, "a");
    // The spend committed and nobody drained: the row waits in the outbox.
    expect(await outboxOf(database.db, user.id)).toMatchObject([{ status: "pending", attempts: 0 }]);
    // A worker takes it and dies before sending (its claim committed, nothing reached SMTP).
    const taken = await claimDueEmails(database.db);
    expect(taken.map((row) => row.userId)).toContain(user.id);
    // While its lease runs, no other worker sends it...
    await runEmailDelivery(database.db);
    expect(alertsTo(user.email)).toHaveLength(0);
    // ...and once it has run out, the next drain does, once.
    const later = new Date(Date.now() + (EMAIL_LEASE_SECONDS + 1) * 1000);
    await runEmailDelivery(database.db, { now: later });
    await runEmailDelivery(database.db, { now: later });
    expect(alertsTo(user.email)).toHaveLength(1);
    expect(await outboxOf(database.db, user.id)).toMatchObject([{ status: "sent", attempts: 2 }]);
  });

  it("a refused email is retried with backoff until the server accepts it", async () => {
    const user = await newUser();
    await grant(database.db, user.id, 100, "g");
    await putAlert(user, { threshold: { credits: 50 } });
    await spend(database.db, user.id, 60, "a");
    smtp.setMode("reject");
    try {
      await runEmailDelivery(database.db);
    } finally {
      smtp.setMode("accept");
    }
    const [waiting] = await outboxOf(database.db, user.id);
    expect(waiting).toMatchObject({ status: "pending", attempts: 1 });
    expect(waiting?.lastError).toBeTruthy();
    // Not before its backoff...
    await runEmailDelivery(database.db);
    expect(alertsTo(user.email)).toHaveLength(0);
    // ...then sent.
    const due = new Date((waiting?.nextAttemptAt ?? new Date()).getTime() + 1000);
    expect((waiting?.nextAttemptAt?.getTime() ?? 0) - Date.now()).toBeGreaterThan(
      (emailRetryDelaySeconds(1) - 5) * 1000,
    );
    await runEmailDelivery(database.db, { now: due });
    expect(alertsTo(user.email)).toHaveLength(1);
  });

  it("the app's jobs send the email after the spend commits, with nobody calling the worker", async () => {
    const user = await newUser();
    await grant(database.db, user.id, 100, "g");
    await putAlert(user, { threshold: { credits: 50 } });
    // The in-process schedule (no database URL given: the embedded database's timers, on either kind).
    const stop = await startJobs(database);
    try {
      await spend(database.db, user.id, 60, "s");
      expect(await waitForAlerts(user.email)).toHaveLength(1);
    } finally {
      await stop();
    }
  });

  it("a spend that rolls back takes its email with it; the next crossing spend queues it", async () => {
    const user = await newUser();
    await grant(database.db, user.id, 100, "g");
    await putAlert(user, { threshold: { credits: 50 } });
    await expect(
      database.db.transaction(async (tx) => {
        await consumeCredits(tx, { userId: user.id, amount: 60, description: "s", idempotencyKey: "rolled" });
        throw new Error("the caller's work failed");
      }),
    ).rejects.toThrow("the caller's work failed");
    expect(await outboxOf(database.db, user.id)).toHaveLength(0);
    expect((await getAlert(user)).low).toBe(false);
    await spend(database.db, user.id, 60, "kept");
    expect(await outboxOf(database.db, user.id)).toHaveLength(1);
  });

  it("another backend's threshold (service API) alerts its customer at the account's address, or skips one without", async () => {
    const withAddress = `alert-customer-${kind}-${Date.now()}@example.test`;
    const { customer } = await upsertCustomer(database.db, `ext-${kind}-${Date.now()}-a`, {
      email: withAddress,
    });
    const { customer: silent } = await upsertCustomer(database.db, `ext-${kind}-${Date.now()}-b`, {});
    for (const account of [customer, silent]) {
      await grant(database.db, account.userId, 100, "g");
      await setLowBalanceThreshold(database.db, { userId: account.userId, threshold: 50 });
      await spend(database.db, account.userId, 60, "s");
    }
    await runEmailDelivery(database.db);
    expect(alertsTo(withAddress)).toHaveLength(1);
    expect(await outboxOf(database.db, customer.userId)).toMatchObject([{ status: "sent" }]);
    expect(await outboxOf(database.db, silent.userId)).toMatchObject([{ status: "skipped" }]);
  });

  it("the page's API refuses thresholds that are not whole credits or a percentage from 1 to 100", async () => {
    const user = await newUser();
    for (const threshold of [
      { credits: 0 },
      { credits: 1.5 },
      { percent: 0 },
      { percent: 101 },
      { credits: 5, percent: 5 },
    ])
      expect((await putAlert(user, { threshold })).status).toBe(400);
    const anonymous = await alertGet(appRequest("/api/credits/low-balance-alert"), routeContext({}));
    expect(anonymous.status).toBe(401);
  });
});

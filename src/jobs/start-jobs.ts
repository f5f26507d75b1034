import PgBoss from "pg-boss";
import { applyBulkBatch } from "@/admin/bulk/apply-bulk-batch";
import { runAutoTopUps } from "@/auto-top-up/run-auto-top-ups";
import { getServerEnv } from "@/config/env";
import { sqlStateOf } from "@/credits/sql-rows";
import type { DatabaseConnection } from "@/db/connect";
import { runEmailDelivery } from "@/email/deliver-email-outbox";
import { pruneEmailOutbox } from "@/email/prune-email-outbox";
import { logger } from "@/lib/logger";
import { runWebhookDelivery } from "@/outbound/deliver-webhooks";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { webhookSigningSecret } from "@/payment/payment-config";
import { deliverDueSandboxEvents } from "@/payment/sandbox/deliver-sandbox-events";
import { drainFor } from "./drain-for";
import { BULK_APPLY_QUEUE, resumeBulkBatches, setBulkApplySender } from "./run-bulk-apply";
import { RECONCILE_EVERY_MINUTES, runPaymentMaintenance } from "./run-payment-maintenance";
import { runSubscriptionCredits } from "./run-subscription-credits";
import { runSweep } from "./run-sweep";

export const SWEEP_QUEUE = "credits-sweep";
/** Reconciliation of recent payments and abandoning stale purchases. */
export const PAYMENTS_QUEUE = "payments-maintenance";
/** Retries of the payment sandbox's event deliveries that failed. */
export const SANDBOX_DELIVERY_QUEUE = "sandbox-deliveries";
/** Yearly plans' monthly slots that came due, and the Free plan's monthly credits. */
export const SUBSCRIPTION_CREDITS_QUEUE = "subscription-credits";
/** Delivery of outbound events (webhooks to the operator's backend). */
export const OUTBOUND_DELIVERY_QUEUE = "outbound-deliveries";
/** Emails of the email outbox (low-balance alerts, auto top-up). */
export const EMAIL_QUEUE = "email-outbox";
/** Retention of the email outbox: settled rows past EMAIL_OUTBOX_RETENTION_DAYS are deleted. */
export const EMAIL_RETENTION_QUEUE = "email-outbox-retention";
/** Auto top-ups decided by spends: charged off-session (src/auto-top-up/run-auto-top-ups.ts). */
export const AUTO_TOP_UP_QUEUE = "auto-top-ups";

/** On the embedded database, batches left queued or running are resumed this often. */
const BULK_RESUME_INTERVAL_MS = 10_000;
/** On the embedded database the delivery worker looks for due sandbox events this often. */
const SANDBOX_DELIVERY_INTERVAL_MS = 5_000;
/** On the embedded database the outbound-event worker looks for due deliveries this often. */
const OUTBOUND_DELIVERY_INTERVAL_MS = 2_000;
/** On pg-boss, each minute's delivery job keeps polling this long (see drain-for.ts). */
const OUTBOUND_DELIVERY_JOB_MS = 50_000;
/** On the embedded database the email worker looks for due emails this often. */
const EMAIL_INTERVAL_MS = 2_000;
/** On pg-boss, each minute's email job keeps polling this long (see drain-for.ts). */
const EMAIL_JOB_MS = 50_000;
/** On the embedded database the email outbox's retention runs this often (hourly, as on pg-boss). */
const EMAIL_RETENTION_INTERVAL_MS = 3_600_000;
/** On the embedded database the auto top-up worker looks for due attempts this often. */
const AUTO_TOP_UP_INTERVAL_MS = 2_000;
/** On pg-boss, each minute's auto top-up job keeps polling this long (see drain-for.ts). */
const AUTO_TOP_UP_JOB_MS = 50_000;

type Stop = () => Promise<void>;

/** Runs `step` again (up to 5 times, after a short random pause) when PostgreSQL ends it as a deadlock. */
async function retryOnDeadlock(step: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (sqlStateOf(error) !== "40P01" || attempt >= 5) throw error;
      logger.warn({ attempt }, "jobs: queue set-up met another instance's (deadlock); trying again");
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 400));
    }
  }
}

async function maintainPayments(connection: DatabaseConnection) {
  await runPaymentMaintenance(connection.db, getPaymentProvider(connection.db));
}

async function chargeAutoTopUps(
  connection: DatabaseConnection,
  options: { shouldStop?: () => boolean } = {},
) {
  await runAutoTopUps(connection.db, getPaymentProvider(connection.db), options);
}

async function pruneEmails(connection: DatabaseConnection) {
  await pruneEmailOutbox(connection.db, { retentionDays: getServerEnv().EMAIL_OUTBOX_RETENTION_DAYS });
}

async function deliverSandboxEvents(connection: DatabaseConnection) {
  await deliverDueSandboxEvents(connection.db, webhookSigningSecret());
}

/**
 * Starts the scheduled jobs with the app. On PostgreSQL they run on pg-boss: the cron schedules live in
 * the database, so with several app instances each run happens once, and a crashed run is retried.
 * The embedded database has one process by definition, so in-process timers do the same job there.
 * - the sweep (expired lots, holds past their TTL), every minute;
 * - payment maintenance (reconcile the last 7 days, abandon stale purchases), every 15 minutes;
 * - the payment sandbox's delivery worker, which retries failed event deliveries with backoff
 *   (every minute on pg-boss, every 5 seconds in process; the backoff itself is kept per event);
 * - subscription credits (yearly slots that came due, the Free plan's periods), every minute: a run is
 *   safe to repeat or to overlap another's (run-subscription-credits.ts), so a retried job grants nothing twice;
 * - outbound events to the operator's endpoints (src/outbound): each minute's job polls every 2 seconds for
 *   50 seconds on pg-boss; every 2 seconds in process. Deliveries are leased with SKIP LOCKED, so runs on
 *   several instances never send the same delivery at once;
 * - the email outbox (low-balance alerts, auto top-up), the same way: every 2 seconds, leased with SKIP LOCKED;
 * - the email outbox's retention, every hour: rows sent or given up more than EMAIL_OUTBOX_RETENTION_DAYS
 *   days ago are deleted in batches of 1,000 (src/email/prune-email-outbox.ts); pending rows never;
 * - auto top-ups decided by spends, charged off-session the same way: every 2 seconds, leased with SKIP
 *   LOCKED, each attempt under its own idempotency key;
 * - bulk grants and revokes (src/admin/bulk): one pg-boss job per batch, retried after a crash (the run
 *   resumes at its first unapplied row); in process, batches left queued or running resume every 10 seconds.
 */
export async function startJobs(connection: DatabaseConnection, databaseUrl?: string): Promise<Stop> {
  if (connection.kind === "postgres" && databaseUrl) {
    const boss = new PgBoss({ connectionString: databaseUrl, max: 2 });
    boss.on("error", (error) => logger.error({ err: error }, "job queue error"));
    await boss.start();
    // Instances started together on a new database create the same queues at once, and pg-boss's queue
    // creation can deadlock against itself there (SQLSTATE 40P01; seen with three instances): the loser
    // tries again, and then finds the queues made.
    await retryOnDeadlock(async () => {
      for (const queue of [
        SWEEP_QUEUE,
        PAYMENTS_QUEUE,
        SANDBOX_DELIVERY_QUEUE,
        SUBSCRIPTION_CREDITS_QUEUE,
        OUTBOUND_DELIVERY_QUEUE,
        EMAIL_QUEUE,
        EMAIL_RETENTION_QUEUE,
        AUTO_TOP_UP_QUEUE,
        BULK_APPLY_QUEUE,
      ])
        await boss.createQueue(queue);
      await boss.schedule(SWEEP_QUEUE, "* * * * *");
      await boss.schedule(PAYMENTS_QUEUE, `*/${RECONCILE_EVERY_MINUTES} * * * *`);
      await boss.schedule(SANDBOX_DELIVERY_QUEUE, "* * * * *");
      await boss.schedule(SUBSCRIPTION_CREDITS_QUEUE, "* * * * *");
      await boss.schedule(OUTBOUND_DELIVERY_QUEUE, "* * * * *");
      await boss.schedule(EMAIL_QUEUE, "* * * * *");
      await boss.schedule(EMAIL_RETENTION_QUEUE, "17 * * * *");
      await boss.schedule(AUTO_TOP_UP_QUEUE, "* * * * *");
    });
    await boss.work(SWEEP_QUEUE, async () => {
      await runSweep(connection.db);
    });
    await boss.work(PAYMENTS_QUEUE, async () => {
      await maintainPayments(connection);
    });
    await boss.work(SANDBOX_DELIVERY_QUEUE, async () => {
      await deliverSandboxEvents(connection);
    });
    await boss.work(SUBSCRIPTION_CREDITS_QUEUE, async () => {
      await runSubscriptionCredits(connection.db);
    });
    let stopping = false;
    await boss.work(OUTBOUND_DELIVERY_QUEUE, async () => {
      await drainFor(
        OUTBOUND_DELIVERY_JOB_MS,
        () => stopping,
        (options) => runWebhookDelivery(connection.db, options),
      );
    });
    await boss.work(EMAIL_QUEUE, async () => {
      await drainFor(
        EMAIL_JOB_MS,
        () => stopping,
        (options) => runEmailDelivery(connection.db, options),
      );
    });
    await boss.work(EMAIL_RETENTION_QUEUE, async () => {
      await pruneEmails(connection);
    });
    await boss.work(AUTO_TOP_UP_QUEUE, async () => {
      await drainFor(
        AUTO_TOP_UP_JOB_MS,
        () => stopping,
        (options) => chargeAutoTopUps(connection, options),
      );
    });
    await boss.work<{ batchId: string }>(BULK_APPLY_QUEUE, async (jobs) => {
      for (const job of jobs) await applyBulkBatch(connection.db, job.data.batchId);
    });
    setBulkApplySender(async (batchId) => {
      // A batch of 100,000 rows takes minutes: the job may run up to an hour before pg-boss retries it.
      await boss.send(
        BULK_APPLY_QUEUE,
        { batchId },
        { retryLimit: 10, retryDelay: 30, expireInSeconds: 3600 },
      );
    });
    logger.info(
      {
        queues: [
          SWEEP_QUEUE,
          PAYMENTS_QUEUE,
          SANDBOX_DELIVERY_QUEUE,
          SUBSCRIPTION_CREDITS_QUEUE,
          OUTBOUND_DELIVERY_QUEUE,
          EMAIL_QUEUE,
          EMAIL_RETENTION_QUEUE,
          AUTO_TOP_UP_QUEUE,
        ],
      },
      "jobs: pg-boss started: sweep every minute, payment maintenance every 15 minutes, sandbox deliveries every minute, subscription credits every minute, email retention hourly, outbound deliveries, emails and auto top-ups continuously",
    );
    return () => {
      stopping = true;
      setBulkApplySender(undefined);
      return boss.stop({ graceful: true });
    };
  }
  const every = (ms: number, name: string, run: () => Promise<unknown>) => {
    let running = false;
    const timer = setInterval(() => {
      // A pass still running (a slow database) is not started twice.
      if (running) return;
      running = true;
      run()
        .catch((error: unknown) => logger.error({ err: error }, `${name} failed`))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    return timer;
  };
  const timers = [
    every(60_000, "sweep", () => runSweep(connection.db)),
    every(RECONCILE_EVERY_MINUTES * 60_000, "payment maintenance", () => maintainPayments(connection)),
    every(SANDBOX_DELIVERY_INTERVAL_MS, "sandbox delivery", () => deliverSandboxEvents(connection)),
    every(60_000, "subscription credits", () => runSubscriptionCredits(connection.db)),
    every(OUTBOUND_DELIVERY_INTERVAL_MS, "outbound delivery", () => runWebhookDelivery(connection.db)),
    every(EMAIL_INTERVAL_MS, "email delivery", () => runEmailDelivery(connection.db)),
    every(EMAIL_RETENTION_INTERVAL_MS, "email retention", () => pruneEmails(connection)),
    every(AUTO_TOP_UP_INTERVAL_MS, "auto top-up", () => chargeAutoTopUps(connection)),
    every(BULK_RESUME_INTERVAL_MS, "bulk apply", () => resumeBulkBatches(connection.db)),
  ];
  logger.info(
    "jobs: in-process sweep every minute, payment maintenance every 15 minutes, sandbox deliveries every 5 seconds, subscription credits every minute, email retention hourly, outbound deliveries, emails and auto top-ups every 2 seconds (embedded database)",
  );
  return async () => {
    for (const timer of timers) clearInterval(timer);
  };
}

import PgBoss from "pg-boss";
import type { DatabaseConnection } from "@/db/connect";
import { logger } from "@/lib/logger";
import { runSweep } from "./run-sweep";

export const SWEEP_QUEUE = "credits-sweep";

type Stop = () => Promise<void>;

/**
 * Starts the scheduled jobs with the app. On PostgreSQL they run on pg-boss: the cron schedule lives in
 * the database, so with several app instances each minute's sweep runs once, and a crashed run is retried.
 * The embedded database has one process by definition, so an in-process timer does the same job there.
 */
export async function startJobs(connection: DatabaseConnection, databaseUrl?: string): Promise<Stop> {
  if (connection.kind === "postgres" && databaseUrl) {
    const boss = new PgBoss({ connectionString: databaseUrl, max: 2 });
    boss.on("error", (error) => logger.error({ err: error }, "job queue error"));
    await boss.start();
    await boss.createQueue(SWEEP_QUEUE);
    await boss.schedule(SWEEP_QUEUE, "* * * * *");
    await boss.work(SWEEP_QUEUE, async () => {
      await runSweep(connection.db);
    });
    logger.info({ queue: SWEEP_QUEUE }, "jobs: pg-boss started, sweep scheduled every minute");
    return () => boss.stop({ graceful: true });
  }
  const timer = setInterval(() => {
    runSweep(connection.db).catch((error: unknown) => logger.error({ err: error }, "sweep failed"));
  }, 60_000);
  timer.unref();
  logger.info("jobs: in-process sweep every minute (embedded database)");
  return async () => clearInterval(timer);
}

import type pg from "pg";
import type { DatabaseConnection } from "@/db/connect";
import type { Database } from "@/db/types";
import type { BenchConfig } from "./config";
import type { Table, TargetResult } from "./report";
import type { AppServer } from "./server";

/** What a scenario hands back: tables to print, targets to judge, and raw data for latest.json. */
export type ScenarioOutput = {
  tables: Table[];
  targets: TargetResult[];
  data: Record<string, unknown>;
  /** Statements, plans and lock samples that explain the numbers. */
  evidence?: Record<string, unknown>;
  /** A correctness check failed: the numbers are not trustworthy. */
  failed?: string;
};

export type BenchContext = {
  config: BenchConfig;
  connection: DatabaseConnection;
  db: Database;
  /** The pg.Pool under `db`: the baselines run on it. */
  pool: pg.Pool;
  log: (line: string) => void;
  /** The Next.js production server, started on first use and shared by scenarios 2, 4 and 9. */
  server: () => Promise<AppServer>;
  /** Funded users shared by the spend scenarios, seeded on first use. */
  spendUsers: () => Promise<SpendUsers>;
  /** Results of earlier scenarios in this run, by scenario number. */
  outputs: Map<number, ScenarioOutput>;
};

export type SpendUsers = { spread: string[]; hot: string };

export function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

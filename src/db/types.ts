import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type * as schema from "./schema";

/**
 * A database handle or an open transaction: both have the same query API, so every core
 * operation can run alone or inside a caller's larger transaction.
 */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;
export type DatabaseOrTransaction = Database;

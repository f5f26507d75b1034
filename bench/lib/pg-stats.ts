import type pg from "pg";

export async function walPosition(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
  return rows[0]?.lsn ?? "0/0";
}

/** WAL bytes written cluster-wide since `lsn` (nothing else writes to this server during a run, normally). */
export async function walSince(pool: pg.Pool, lsn: string): Promise<number> {
  const { rows } = await pool.query<{ bytes: string }>(
    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint AS bytes",
    [lsn],
  );
  return Number(rows[0]?.bytes ?? 0);
}

/** Row counters per table: HOT updates avoid index writes; a non-HOT update writes every index again. */
export async function tableCounters(pool: pg.Pool, tables: readonly string[]) {
  const { rows } = await pool.query<{
    relname: string;
    n_tup_ins: string;
    n_tup_upd: string;
    n_tup_hot_upd: string;
    n_dead_tup: string;
  }>(
    `SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup FROM pg_stat_user_tables
     WHERE relname = ANY($1) ORDER BY relname`,
    [tables],
  );
  return rows.map((row) => ({
    table: row.relname,
    inserted: Number(row.n_tup_ins),
    updated: Number(row.n_tup_upd),
    hotUpdated: Number(row.n_tup_hot_upd),
    deadTuples: Number(row.n_dead_tup),
  }));
}

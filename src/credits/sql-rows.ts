/** The rows of a raw `db.execute` result; node-postgres and PGlite both answer `{ rows }`. */
export function sqlRows<Row>(result: unknown): Row[] {
  return (result as { rows: Row[] }).rows;
}

export function firstRow<Row>(result: unknown): Row {
  const [row] = sqlRows<Row>(result);
  if (!row) throw new Error("the database function returned no row");
  return row;
}

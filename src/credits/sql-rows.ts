/** The rows of a raw `db.execute` result; node-postgres and PGlite both answer `{ rows }`. */
export function sqlRows<Row>(result: unknown): Row[] {
  return (result as { rows: Row[] }).rows;
}

export function firstRow<Row>(result: unknown): Row {
  const [row] = sqlRows<Row>(result);
  if (!row) throw new Error("the database function returned no row");
  return row;
}

/**
 * A PostgreSQL array literal, each element quoted, so a list of any text travels as one parameter (cast it
 * in the query: `${pgArrayLiteral(ids)}::text[]`). `null` stands for SQL NULL.
 */
export function pgArrayLiteral(values: readonly (string | number | null)[]): string {
  const quoted = values.map((value) =>
    value === null ? "NULL" : `"${String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`,
  );
  return `{${quoted.join(",")}}`;
}

/** The SQLSTATE of a database error, looking through the wrappers drivers and Drizzle put around it. */
export function sqlStateOf(error: unknown): string | undefined {
  for (
    let current = error;
    current && typeof current === "object";
    current = (current as { cause?: unknown }).cause
  ) {
    const { code } = current as { code?: unknown };
    if (typeof code === "string") return code;
  }
  return undefined;
}

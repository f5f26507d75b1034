export type Cell = string | number;

export type Table = { title: string; headers: string[]; rows: Cell[][]; notes?: string[] };

export type TargetResult = {
  scenario: number;
  name: string;
  target: string;
  measured: string;
  pass: boolean;
  /** How far from the target, in words a reader can act on; empty when passed with margin to spare. */
  gap: string;
};

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return value.toFixed(digits);
}

export function renderTable(table: Table): string {
  const cells = [table.headers, ...table.rows.map((row) => row.map(String))];
  const widths = table.headers.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? "").length)),
  );
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(" | ")} |`;
  const rule = `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`;
  const body = cells.slice(1).map((row) => line(row));
  const notes = (table.notes ?? []).map((note) => `  ${note}`);
  return [
    `### ${table.title}`,
    "",
    line(table.headers),
    rule,
    ...body,
    ...(notes.length ? ["", ...notes] : []),
  ].join("\n");
}

/** A "higher is better" ratio target, e.g. ours/baseline >= 0.8. */
export function ratioTarget(
  scenario: number,
  name: string,
  ratio: number,
  minimum: number,
  unit = "x",
): TargetResult {
  const pass = ratio >= minimum;
  const gap = pass
    ? `+${fmt(ratio - minimum)}${unit} margin`
    : `short by ${fmt(minimum - ratio)}${unit}: needs ${fmt((minimum / ratio - 1) * 100, 0)}% more throughput`;
  return { scenario, name, target: `>= ${minimum}${unit}`, measured: `${fmt(ratio)}${unit}`, pass, gap };
}

/** A "lower is better" ceiling, e.g. p99 < 100 ms or heavy/light <= 1.5x. */
export function ceilingTarget(
  scenario: number,
  name: string,
  value: number,
  ceiling: number,
  unit: string,
  strict = false,
): TargetResult {
  const pass = strict ? value < ceiling : value <= ceiling;
  const gap = pass
    ? `${fmt(ceiling - value)}${unit} below the limit`
    : `over by ${fmt(value - ceiling)}${unit} (${fmt((value / ceiling - 1) * 100, 0)}% above)`;
  return {
    scenario,
    name,
    target: `${strict ? "<" : "<="} ${ceiling}${unit}`,
    measured: `${fmt(value)}${unit}`,
    pass,
    gap,
  };
}

/** A "higher is better" absolute floor, e.g. >= 10,000 lots/s. */
export function floorTarget(
  scenario: number,
  name: string,
  value: number,
  floor: number,
  unit: string,
): TargetResult {
  const pass = value >= floor;
  const gap = pass
    ? `${fmt(value - floor)} ${unit} above`
    : `short by ${fmt(floor - value)} ${unit}: needs ${fmt(floor / value, 1)}x`;
  return { scenario, name, target: `>= ${fmt(floor)} ${unit}`, measured: `${fmt(value)} ${unit}`, pass, gap };
}

export function checkTarget(scenario: number, name: string, ok: boolean, detail: string): TargetResult {
  return { scenario, name, target: "all checks hold", measured: detail, pass: ok, gap: ok ? "" : detail };
}

export function targetsTable(targets: readonly TargetResult[]): Table {
  return {
    title: "Targets",
    headers: ["#", "target", "wanted", "measured", "result", "gap"],
    rows: targets.map((t) => [t.scenario, t.name, t.target, t.measured, t.pass ? "PASS" : "MISS", t.gap]),
  };
}

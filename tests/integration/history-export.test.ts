import { randomUUID } from "node:crypto";
import { parse } from "csv-parse/sync";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { likeLiteral } from "../../src/credits/history-filter";
import { listTransactions } from "../../src/credits/list-transactions";
import { useDatabaseConnection } from "../../src/db/client";
import { user } from "../../src/db/schema";
import { runMeteredFeature } from "../../src/features/run-metered-feature";
import { HISTORY_CSV_COLUMNS, protectCell } from "../../src/server/export-transactions-csv";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import {
  adminTransactionsExportGet,
  adminTransactionsGet,
  transactionsExportGet,
  transactionsGet,
} from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_EXPORTS_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

type Item = {
  id: string;
  type: string;
  amount: number;
  description: string;
  feature?: string;
  createdAt: string;
};
type Row = Record<(typeof HISTORY_CSV_COLUMNS)[number], string>;

const T0 = Date.parse("2026-03-01T00:00:00Z");
const DAY = 86_400_000;
const at = (days: number) => new Date(T0 + days * DAY);

/** Reads an export answer back into rows (header checked), the way a spreadsheet or a script would. */
async function csvRows(response: Response): Promise<Row[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
  const text = await response.text();
  const records = parse(text, { bom: true }) as string[][];
  expect(records[0]).toEqual([...HISTORY_CSV_COLUMNS]);
  return records
    .slice(1)
    .map(
      (record) =>
        Object.fromEntries(HISTORY_CSV_COLUMNS.map((column, i) => [column, record[i] ?? ""])) as Row,
    );
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

describe.each(databaseKinds())("credit history filters and CSV export (%s)", (kind) => {
  let database: TestDatabase;
  let owner: SignedUpUser;
  let stranger: SignedUpUser;
  let admin: SignedUpUser;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    owner = await signUp(`history-${randomUUID()}@example.test`);
    stranger = await signUp(`stranger-${randomUUID()}@example.test`);
    admin = await signUp(`ops-${randomUUID()}@example.test`);
    await database.db.update(user).set({ role: "admin", emailVerified: true }).where(eq(user.id, admin.id));

    const db = database.db;
    const userId = owner.id;
    const grant = (key: string, amount: number, description: string, day: number) =>
      addCredits(db, { userId, amount, type: "grant", description, idempotencyKey: key }, at(day));
    const spend = (key: string, amount: number, description: string, day: number, feature?: string) =>
      consumeCredits(
        db,
        { userId, amount, description, idempotencyKey: key, ...(feature ? { metadata: { feature } } : {}) },
        at(day),
      );
    await grant("g1", 1000, "Welcome grant", 0);
    await spend("s1", 5, "Image at 50% off", 1, "image.generate");
    await spend("s2", 3, "Monthly_report export", 2, "report.export");
    await spend("s3", 2, '=HYPERLINK("http://evil.example","click")', 3, "-cmd");
    await spend("s4", 1, "Report for 50 pages", 4);
    await grant("g2", 20, "Bonus for the 50th report", 5);
    await spend("s5", 4, "@SUM(A1:A2)", 6, "report.export");
    // A metered feature's spend (hold, then capture): its feature is the one its hold was made for.
    const metered = await runMeteredFeature(
      db,
      { userId, feature: "image.generate", requestId: "req-1", request: { prompt: "a fox" } },
      async () => "done",
    );
    expect(metered.ok).toBe(true);
    // The stranger's own entries, which must never show in the owner's views.
    await addCredits(db, {
      userId: stranger.id,
      amount: 70,
      type: "grant",
      description: "Welcome grant",
      idempotencyKey: "g1",
    });
  });
  afterAll(async () => {
    await database?.close();
  });

  async function list(params: Record<string, string | undefined>, as: SignedUpUser = owner) {
    const { status, body } = await readJson<{ items: Item[]; nextCursor: string | null }>(
      await transactionsGet(
        appRequest(`/api/credits/transactions${query(params)}`, { cookie: as.cookie }),
        routeContext({}),
      ),
    );
    expect(status).toBe(200);
    return body;
  }

  /** Every page of a filtered list, following nextCursor with the same filter. */
  async function listAll(params: Record<string, string | undefined>, limit = 2) {
    const items: Item[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const page = await list({ ...params, limit: String(limit), cursor });
      items.push(...page.items);
      if (!page.nextCursor) return items;
      cursor = page.nextCursor;
    }
    throw new Error("pagination did not end");
  }

  const exportAs = (params: Record<string, string | undefined>, as: SignedUpUser | null = owner) =>
    transactionsExportGet(
      appRequest(`/api/credits/transactions/export${query(params)}`, { cookie: as?.cookie }),
      routeContext({}),
    );

  it("filters by type, by feature (metadata or the metered feature's hold), by date range and by search", async () => {
    const all = await listAll({});
    expect(all.map((i) => i.description)).toEqual([
      "Generate image",
      "@SUM(A1:A2)",
      "Bonus for the 50th report",
      "Report for 50 pages",
      '=HYPERLINK("http://evil.example","click")',
      "Monthly_report export",
      "Image at 50% off",
      "Welcome grant",
    ]);
    expect((await listAll({ type: "grant" })).map((i) => i.description)).toEqual([
      "Bonus for the 50th report",
      "Welcome grant",
    ]);
    expect((await listAll({ feature: "image.generate" })).map((i) => [i.description, i.feature])).toEqual([
      ["Generate image", "image.generate"],
      ["Image at 50% off", "image.generate"],
    ]);
    expect((await listAll({ feature: "report.export" })).map((i) => i.amount)).toEqual([-4, -3]);
    const range = await listAll({ from: at(2).toISOString(), to: at(5).toISOString() });
    expect(range.map((i) => i.description)).toEqual([
      "Report for 50 pages",
      '=HYPERLINK("http://evil.example","click")',
      "Monthly_report export",
    ]);
    // Case-insensitive, anywhere in the description.
    expect((await listAll({ search: "REPORT" })).map((i) => i.description)).toEqual([
      "Bonus for the 50th report",
      "Report for 50 pages",
      "Monthly_report export",
    ]);
    // Combined: every condition holds at once.
    expect(
      (await listAll({ type: "consume", search: "report", from: at(3).toISOString() })).map(
        (i) => i.description,
      ),
    ).toEqual(["Report for 50 pages"]);
    expect(await listAll({ type: "grant", feature: "image.generate" })).toEqual([]);
  });

  it("matches % and _ in a search literally, not as LIKE wildcards", async () => {
    expect(likeLiteral("50%_\\")).toBe("50\\%\\_\\\\");
    expect((await listAll({ search: "50%" })).map((i) => i.description)).toEqual(["Image at 50% off"]);
    expect((await listAll({ search: "y_r" })).map((i) => i.description)).toEqual(["Monthly_report export"]);
    // Unescaped, `%` would match every description and `_` any character.
    expect(await listAll({ search: "%" })).toHaveLength(1);
    expect(await listAll({ search: "_" })).toHaveLength(1);
    expect(await listAll({ search: "\\" })).toEqual([]);
  });

  it("pages a filtered history by keyset: each match once, in order, whatever the page size", async () => {
    const everything = (await list({ limit: "100", search: "e" })).items.map((i) => i.id);
    expect(everything.length).toBeGreaterThan(3);
    for (const limit of [1, 2, 3]) {
      expect((await listAll({ search: "e" }, limit)).map((i) => i.id)).toEqual(everything);
    }
    // A new matching entry arriving between pages neither shifts nor repeats the pages already read.
    const first = await list({ type: "consume", limit: "2" });
    await consumeCredits(database.db, {
      userId: owner.id,
      amount: 1,
      description: "Arrived later",
      idempotencyKey: "late-1",
    });
    const second = await list({ type: "consume", limit: "2", cursor: first.nextCursor ?? undefined });
    const seen = [...first.items, ...second.items].map((i) => i.id);
    expect(new Set(seen).size).toBe(seen.length);
    expect(second.items.map((i) => i.description)).toEqual([
      "Report for 50 pages",
      '=HYPERLINK("http://evil.example","click")',
    ]);
  });

  it("refuses a bad filter with 400", async () => {
    for (const params of [
      { type: "bonus" },
      { from: "yesterday" },
      { from: at(3).toISOString(), to: at(1).toISOString() },
      { colour: "red" },
    ]) {
      const response = await transactionsGet(
        appRequest(`/api/credits/transactions${query(params)}`, { cookie: owner.cookie }),
        routeContext({}),
      );
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_input");
    }
  });

  it("exports exactly what the same filter lists, with a dated file name", async () => {
    for (const filter of [
      {},
      { type: "consume" },
      { feature: "report.export" },
      { search: "50%", type: "consume" },
      { from: at(1).toISOString(), to: at(6).toISOString(), search: "report" },
    ]) {
      const listed = await listAll(filter, 3);
      const response = await exportAs(filter);
      expect(response.headers.get("content-disposition")).toMatch(
        /^attachment; filename="credits-history-\d{4}-\d{2}-\d{2}\.csv"$/,
      );
      const rows = await csvRows(response);
      expect(rows.map((r) => r.id)).toEqual(listed.map((i) => i.id));
      expect(rows.map((r) => Number(r.amount))).toEqual(listed.map((i) => i.amount));
      expect(rows.map((r) => r.created_at)).toEqual(listed.map((i) => i.createdAt));
      expect(rows.map((r) => r.feature)).toEqual(listed.map((i) => protectCell(i.feature ?? "")));
    }
    const [capture] = await csvRows(await exportAs({ feature: "image.generate" }));
    expect(capture).toMatchObject({ type: "consume", amount: "-5", feature: "image.generate" });
    expect(capture?.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(capture?.idempotency_key).toMatch(/^creditkit\/hold-capture:/);
    expect(capture?.reference).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("writes a formula-looking text cell with a leading quote, and numbers as numbers", async () => {
    const rows = await csvRows(await exportAs({ type: "consume" }));
    const byKey = new Map(rows.map((r) => [r.idempotency_key, r]));
    expect(byKey.get("s3")).toMatchObject({
      description: `'=HYPERLINK("http://evil.example","click")`,
      feature: "'-cmd",
      amount: "-2",
    });
    expect(byKey.get("s5")?.description).toBe("'@SUM(A1:A2)");
    expect(byKey.get("s1")?.description).toBe("Image at 50% off");
    for (const text of ["+1", "-1", "=1", "@a", "\tx", "\rx"]) expect(protectCell(text)).toBe(`'${text}`);
    expect(protectCell("a=1")).toBe("a=1");
  });

  it("never exports another user's history: no session is 401, the owner's export holds only the owner's", async () => {
    expect((await exportAs({}, null)).status).toBe(401);
    const strangers = await csvRows(await exportAs({}, stranger));
    expect(strangers.map((r) => r.description)).toEqual(["Welcome grant"]);
    // A user id in the query is refused, not obeyed.
    expect((await exportAs({ userId: owner.id }, stranger)).status).toBe(400);
    // The operators' route refuses a non-admin as if it did not exist.
    const refused = await adminTransactionsExportGet(
      appRequest(`/api/admin/users/${owner.id}/transactions/export`, { cookie: stranger.cookie }),
      routeContext({ userId: owner.id }),
    );
    expect(refused.status).toBe(404);
    const refusedList = await adminTransactionsGet(
      appRequest(`/api/admin/users/${owner.id}/transactions`, { cookie: stranger.cookie }),
      routeContext({ userId: owner.id }),
    );
    expect(refusedList.status).toBe(404);
    const anonymous = await adminTransactionsExportGet(
      appRequest(`/api/admin/users/${owner.id}/transactions/export`),
      routeContext({ userId: owner.id }),
    );
    expect(anonymous.status).toBe(401);
  });

  it("lets an admin list and export any user's filtered history", async () => {
    const filter = { type: "consume", search: "report" };
    const response = await adminTransactionsExportGet(
      appRequest(`/api/admin/users/${owner.id}/transactions/export${query(filter)}`, {
        cookie: admin.cookie,
      }),
      routeContext({ userId: owner.id }),
    );
    expect(response.headers.get("content-disposition")).toContain(`credits-history-${owner.id}-`);
    const rows = await csvRows(response);
    const listed = await listAll(filter);
    expect(rows.map((r) => r.id)).toEqual(listed.map((i) => i.id));
    const { status, body } = await readJson<{ items: Item[] }>(
      await adminTransactionsGet(
        appRequest(`/api/admin/users/${owner.id}/transactions${query({ ...filter, limit: "100" })}`, {
          cookie: admin.cookie,
        }),
        routeContext({ userId: owner.id }),
      ),
    );
    expect(status).toBe(200);
    expect(body.items.map((i) => i.id)).toEqual(listed.map((i) => i.id));
    const unknown = await adminTransactionsExportGet(
      appRequest("/api/admin/users/nobody/transactions/export", { cookie: admin.cookie }),
      routeContext({ userId: "nobody" }),
    );
    expect(unknown.status).toBe(404);
  });

  it("streams a 50,000-entry export in batches, every entry once", async () => {
    const bulk = await signUp(`bulk-${randomUUID()}@example.test`);
    await addCredits(database.db, {
      userId: bulk.id,
      amount: 1,
      type: "grant",
      description: "seed",
      idempotencyKey: "seed",
    });
    await database.db.execute(sql`
      INSERT INTO credit_entry (user_id, type, amount, balance_after, description, idempotency_key, request_hash, metadata)
      SELECT ${bulk.id}, 'consume', -1, 0, 'Bulk spend ' || g, 'bulk-' || g, 'bulk', '{"feature":"bulk.feature"}'::jsonb
      FROM generate_series(1, 50000) AS g`);
    const response = await exportAs({ feature: "bulk.feature" }, bulk);
    // Read as a stream, chunk by chunk: more than one chunk shows the file was written in batches.
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    let chunks = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks += 1;
      text += decoder.decode(value, { stream: true });
    }
    const records = parse(text, { bom: true }) as string[][];
    expect(records).toHaveLength(50_001);
    expect(chunks).toBeGreaterThan(10);
    expect(new Set(records.slice(1).map((r) => r[0])).size).toBe(50_000);
    expect(records[1]?.[6]).toBe("Bulk spend 50000");
    expect(records.at(-1)?.[6]).toBe("Bulk spend 1");
  });

  it("the library's list takes the same filter", async () => {
    const page = await listTransactions(database.db, {
      userId: owner.id,
      limit: 100,
      filter: { type: "grant" },
    });
    expect(page.items.map((i) => i.description)).toEqual(["Bonus for the 50th report", "Welcome grant"]);
  });
});

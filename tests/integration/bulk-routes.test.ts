import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { bulkBatch, user } from "../../src/db/schema";
import { startJobs } from "../../src/jobs/start-jobs";
import applyBulkBatchRoute from "../../src/routes/admin/apply-bulk-batch";
import getBulkBatchRoute from "../../src/routes/admin/get-bulk-batch";
import uploadBulkFile from "../../src/routes/admin/upload-bulk-file";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { handlerOf } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ SIGNUP_GIFT_CREDITS: "0" });
afterAll(() => serverEnv.cleanup());

const uploadPost = handlerOf(uploadBulkFile);
const applyPost = handlerOf(applyBulkBatchRoute);
const batchGet = handlerOf(getBulkBatchRoute);

describe.each(databaseKinds())("the operators' bulk routes (%s)", (kind) => {
  let database: TestDatabase;
  let stranger: SignedUpUser;
  let admin: SignedUpUser;
  let target: SignedUpUser;
  let stopJobs: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    stranger = await signUp(`stranger-${randomUUID()}@example.test`);
    target = await signUp(`target-${randomUUID()}@example.test`);
    admin = await signUp(`ops-${randomUUID()}@example.test`);
    await database.db.update(user).set({ role: "admin", emailVerified: true }).where(eq(user.id, admin.id));
    // On PostgreSQL the apply runs as a pg-boss job, as in production; on PGlite, in process.
    if (kind === "postgres") stopJobs = await startJobs(database, database.url);
  });
  afterAll(async () => {
    await stopJobs?.();
    await database?.close();
  });

  const csv = () => `email,amount,reason\n${target.email},40,launch gift\n`;

  it("refuses anyone but an admin, and stores nothing for them", async () => {
    const anonymous = await uploadPost(
      appRequest("/api/admin/bulk", { body: csv(), contentType: "text/csv" }),
    );
    expect(anonymous.status).toBe(401);
    const refused = await uploadPost(
      appRequest("/api/admin/bulk", { body: csv(), contentType: "text/csv", cookie: stranger.cookie }),
    );
    // Not 403: the admin console's routes answer non-admins as if they did not exist (src/server/with-admin.ts).
    expect(refused.status).toBe(404);
    const [count] = await database.db.select({ n: sql<number>`count(*)::int` }).from(bulkBatch);
    expect(count?.n).toBe(0);
  });

  it("lets an admin upload, preview and apply a file in the background, once however often it is sent", async () => {
    const upload = await uploadPost(
      appRequest("/api/admin/bulk?fileName=gift.csv", {
        body: csv(),
        contentType: "text/csv",
        cookie: admin.cookie,
      }),
    );
    expect(upload.status).toBe(201);
    const { batchId, existing } = (await readJson<{ batchId: string; existing: boolean }>(upload)).body;
    expect(existing).toBe(false);
    expect((await getBalance(database.db, target.id)).balance).toBe(0);

    const applied = await applyPost(
      appRequest(`/api/admin/bulk/${batchId}/apply`, { method: "POST", cookie: admin.cookie }),
    );
    expect(applied.status).toBe(202);
    // Poll its status as the page does.
    let status = "";
    for (let i = 0; i < 1_200 && status !== "done"; i++) {
      const response = await batchGet(appRequest(`/api/admin/bulk/${batchId}`, { cookie: admin.cookie }));
      status = (await readJson<{ status: string }>(response)).body.status;
      if (status !== "done") await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe("done");
    if (kind === "postgres") {
      // The job that ran it (pg-boss marks it completed just after the handler returns).
      let states: string[] = [];
      for (let i = 0; i < 200 && states[0] !== "completed"; i++) {
        const jobs = await database.db.execute(
          sql`SELECT state FROM pgboss.job WHERE name = 'bulk-apply' AND data->>'batchId' = ${batchId}`,
        );
        states = (jobs as unknown as { rows: { state: string }[] }).rows.map((row) => row.state);
        if (states[0] !== "completed") await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(states).toEqual(["completed"]);
    }
    expect((await getBalance(database.db, target.id)).balance).toBe(40);

    const again = await uploadPost(
      appRequest("/api/admin/bulk?fileName=gift-again.csv", {
        body: csv(),
        contentType: "text/csv",
        cookie: admin.cookie,
      }),
    );
    expect((await readJson(again)).body).toEqual({ batchId, existing: true });
    await applyPost(appRequest(`/api/admin/bulk/${batchId}/apply`, { method: "POST", cookie: admin.cookie }));
    expect((await getBalance(database.db, target.id)).balance).toBe(40);
  });
});

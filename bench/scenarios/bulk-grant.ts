import { adjustCredits } from "@/admin/adjust-credits";
import { applyBulkBatch, queueBulkBatch } from "@/admin/bulk/apply-bulk-batch";
import { previewBulkFile } from "@/admin/bulk/preview-bulk-file";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { analyze } from "../lib/database";
import { fmt } from "../lib/report";
import { nowMs } from "../lib/stats";

const PREFIX = "bench-bulk-";
const USERS = 1_000;
const operator = { userId: null, label: "bench" };

/**
 * Bulk grant of `BENCH_BULK_ROWS` rows (100,000 by default) spread over 1,000 users: the file streamed
 * through the preview (parse, validate, store, whole-file checks), then applied as the background job
 * does (500 rows per transaction, each row through adjust-credits.ts). Beside it, the baseline: the same
 * grant path called once per row, one transaction each, in process (`BENCH_BULK_SINGLE_GRANTS` calls).
 * Also the process's peak RSS growth during the preview, which must not grow with the row count.
 */
export async function runBulkGrant(ctx: BenchContext): Promise<ScenarioOutput> {
  const { rows, singleGrants } = ctx.config.bulk;
  await ctx.pool.query(
    `INSERT INTO "user" (id, name, email)
     SELECT $1::text || u, 'Bench bulk user', $1::text || u || '@bench.invalid' FROM generate_series(1, $2::int) u`,
    [PREFIX, USERS],
  );
  await analyze(ctx.pool, ["user"]);

  ctx.log(`baseline: ${singleGrants} single grants in process`);
  const singleStarted = nowMs();
  for (let i = 0; i < singleGrants; i++)
    await adjustCredits(
      ctx.db,
      {
        userId: `${PREFIX}${(i % USERS) + 1}`,
        delta: 1,
        reason: "bench single grant",
        requestId: `bench-single-${i}`,
      },
      operator,
    );
  const singleRate = singleGrants / ((nowMs() - singleStarted) / 1000);

  async function* file(): AsyncIterable<Uint8Array> {
    const encoder = new TextEncoder();
    yield encoder.encode("user_id,amount,reason\n");
    for (let start = 0; start < rows; start += 1_000) {
      let text = "";
      for (let i = start; i < Math.min(rows, start + 1_000); i++)
        text += `${PREFIX}${(i % USERS) + 1},1,bench bulk row ${i}\n`;
      yield encoder.encode(text);
    }
  }
  ctx.log(`bulk: previewing ${rows} rows`);
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 50);
  const previewStarted = nowMs();
  const preview = await previewBulkFile(ctx.db, { fileName: "bench.csv", body: file() }, operator);
  const previewSeconds = (nowMs() - previewStarted) / 1000;
  clearInterval(sampler);
  await queueBulkBatch(ctx.db, preview.batchId, operator);
  ctx.log("bulk: applying");
  const applyStarted = nowMs();
  const applied = await applyBulkBatch(ctx.db, preview.batchId);
  const applySeconds = (nowMs() - applyStarted) / 1000;
  const failed = applied === rows ? undefined : `applied ${applied} of ${rows} rows`;
  const applyRate = rows / applySeconds;
  return {
    tables: [
      {
        title: `Bulk grant of ${fmt(rows, 0)} rows over ${USERS} users`,
        headers: ["measure", "value"],
        rows: [
          ["preview (stream, validate, store, check): rows/s", fmt(rows / previewSeconds)],
          ["apply (background job body): rows/s", fmt(applyRate)],
          ["baseline: single grants in process, one per transaction: grants/s", fmt(singleRate)],
          ["apply / baseline", `${(applyRate / singleRate).toFixed(2)}x`],
          ["RSS growth during the preview: MiB", fmt((rssPeak - rssBefore) / 2 ** 20, 1)],
        ],
      },
    ],
    targets: [],
    data: { rows, previewSeconds, applySeconds, applyRate, singleRate, rssGrowthBytes: rssPeak - rssBefore },
    ...(failed ? { failed } : {}),
  };
}

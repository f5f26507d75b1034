import { setTimeout as sleep } from "node:timers/promises";
import { EXPORT_BATCH_SIZE, HISTORY_CSV_COLUMNS } from "@/server/export-transactions-csv";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { processGroupCpuMs } from "../lib/cpu";
import { analyze } from "../lib/database";
import { type RssSamples, secondHalfRise, startRssSampler, toMiB } from "../lib/memory";
import { ceilingTarget, checkTarget, fmt, type Table, type TargetResult } from "../lib/report";
import { nowMs, round } from "../lib/stats";
import { type Shape, seedLedger, shapeOf } from "./history-cost";

/** The route a signed-in user downloads their own history from (src/routes/credits/export-transactions.ts). */
const EXPORT_PATH = "/api/credits/transactions/export";
/**
 * What the large export's RSS growth may exceed the baseline's by: allocator and GC noise (V8 grows its
 * young generation and keeps freed pages for a while), never a share of the rows. An export that held its
 * rows would grow by hundreds of MiB per million entries (about 100 bytes of CSV and far more as objects).
 */
const RSS_ALLOWANCE_MIB = 32;
const SAMPLE_INTERVAL_MS = 100;
/** A pause before each download, so the idle RSS is read after the previous one's garbage had time to go. */
const IDLE_MS = 1_000;
/** Bytes kept of the file's start and end, for the header and the first and last rows. */
const KEPT_BYTES = 4_096;
const PASSWORD = "bench export password";

type SignedIn = { userId: string; cookie: string };

/** Signs a user up the way the sign-up page does (Better Auth's route), keeping the session cookie it sets. */
async function signUp(baseUrl: string, email: string): Promise<SignedIn> {
  const response = await fetch(`${baseUrl}/api/auth/sign-up/email`, {
    method: "POST",
    // The page's own origin, one of Better Auth's trusted origins when BETTER_AUTH_URL is unset.
    headers: { "content-type": "application/json", origin: baseUrl },
    body: JSON.stringify({ email, password: PASSWORD, name: "Bench export" }),
  });
  if (response.status !== 200)
    throw new Error(`sign-up of ${email} answered ${response.status}: ${await response.text()}`);
  const { user } = (await response.json()) as { user: { id: string } };
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(";")[0])
    .join("; ");
  if (!cookie) throw new Error(`sign-up of ${email} set no session cookie`);
  return { userId: user.id, cookie };
}

type Download = {
  status: number;
  contentType: string;
  /** Lines of the file, the header included (every record ends with "\n"). */
  lines: number;
  bytes: number;
  seconds: number;
  firstByteMs: number;
  head: string;
  tail: string;
};

/**
 * Downloads the export as a browser would and counts it chunk by chunk: only the first and last
 * KEPT_BYTES are kept, so the bench's own memory does not depend on the file's size.
 */
async function download(url: string, cookie: string): Promise<Download> {
  const started = nowMs();
  const response = await fetch(url, { headers: { cookie } });
  const contentType = response.headers.get("content-type") ?? "";
  if (response.status !== 200 || !response.body)
    throw new Error(`export answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  const reader = response.body.getReader();
  let firstByteMs = Number.NaN;
  let lines = 0;
  let bytes = 0;
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (bytes === 0) firstByteMs = nowMs() - started;
    const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    bytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines += 1;
    if (head.length < KEPT_BYTES) head = Buffer.concat([head, chunk.subarray(0, KEPT_BYTES - head.length)]);
    tail =
      chunk.length >= KEPT_BYTES
        ? Buffer.from(chunk.subarray(chunk.length - KEPT_BYTES))
        : Buffer.concat([tail, chunk]).subarray(-KEPT_BYTES);
  }
  return {
    status: response.status,
    contentType,
    lines,
    bytes,
    seconds: (nowMs() - started) / 1000,
    firstByteMs,
    head: head.toString("utf8"),
    tail: tail.toString("utf8"),
  };
}

/**
 * The file must be the seeded ledger before its speed means anything: one header, one line per entry,
 * newest first (its balance_after is the account's balance), the oldest last (the first grant).
 */
function checkFile(name: string, file: Download, shape: Shape): string[] {
  const problems: string[] = [];
  const column = (line: string | undefined, key: (typeof HISTORY_CSV_COLUMNS)[number]) =>
    line?.split(",")[HISTORY_CSV_COLUMNS.indexOf(key)];
  const headLines = file.head.split("\n");
  const tailLines = file.tail.split("\n");
  if (!file.contentType.startsWith("text/csv")) problems.push(`${name}: content-type ${file.contentType}`);
  if (headLines[0] !== `\uFEFF${HISTORY_CSV_COLUMNS.join(",")}`)
    problems.push(`${name}: header ${JSON.stringify(headLines[0])}`);
  if (file.lines - 1 !== shape.entries)
    problems.push(`${name}: ${file.lines - 1} rows for ${shape.entries} entries`);
  if (tailLines.at(-1) !== "") problems.push(`${name}: the file does not end with a complete row`);
  if (column(headLines[1], "balance_after") !== String(shape.balance))
    problems.push(`${name}: newest row's balance_after is not the balance ${shape.balance}`);
  const oldest = tailLines.at(-2);
  if (column(oldest, "type") !== "grant" || column(oldest, "balance_after") !== String(shape.lotCredits))
    problems.push(`${name}: oldest row is not the first grant: ${oldest}`);
  return problems;
}

type Measured = {
  name: string;
  shape: Shape;
  file: Download;
  rss: RssSamples;
  serverCpuMs: number | null;
};

/**
 * Scenario 9: a signed-in user's CSV export (`GET /api/credits/transactions/export`, the route behind the
 * credits page's Export button) of a history of BENCH_EXPORT_ENTRIES entries (1,000,000 by default), beside
 * the same export of a tenth of that, downloaded over HTTP from the server `npm start` runs. The users sign
 * up through Better Auth's route and use the session cookie it sets; their ledgers are then written in bulk
 * as scenario 3 writes its heavy user's. For each size: rows/s, MB/s, and the server process group's RSS
 * sampled every 100 ms (peak, and growth over the idle RSS read just before). Target: the large export's
 * RSS growth no more than the baseline's plus RSS_ALLOWANCE_MIB, i.e. memory does not grow with the rows.
 */
export async function runHistoryExport(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config, pool } = ctx;
  const server = await ctx.server();
  if (server.processGroup === null)
    throw new Error("the server's process group is unknown: no RSS to sample");
  const group = server.processGroup;
  const largeEntries = config.export.entries;
  const sizes = [
    { name: "baseline", entries: Math.max(1, Math.round(largeEntries / 10)) },
    { name: "large", entries: largeEntries },
  ].map((size) => ({
    ...size,
    // One lot per 1,000 entries, at most 1,000 (scenario 3's default); the export reads entries only.
    shape: shapeOf(size.entries, Math.min(1_000, Math.max(1, Math.floor(size.entries / 1_000)))),
  }));

  const seedStarted = nowMs();
  const users = new Map<string, SignedIn>();
  for (const size of sizes) {
    const user = await signUp(server.url, `bench-export-${size.name}@example.com`);
    users.set(size.name, user);
    ctx.log(`  9: seeding ${size.entries.toLocaleString("en-US")} entries for ${size.name} (${user.userId})`);
    await seedLedger(ctx, user.userId, size.shape);
  }
  await analyze(pool, ["credit_entry", "credit_lot", "credit_account"]);
  const seedSeconds = (nowMs() - seedStarted) / 1000;
  ctx.log(`  9: signed up and seeded in ${seedSeconds.toFixed(1)} s`);

  const exportOf = (name: string) => {
    const user = users.get(name);
    if (!user) throw new Error(`no ${name} user`);
    return download(`${server.url}${EXPORT_PATH}`, user.cookie);
  };
  // Unmeasured: loads the route's code, JIT-compiles the CSV path and opens the server's pool connections,
  // so the baseline's RSS growth is the export's and not the first request's.
  ctx.log("  9: warm-up export of the baseline history (unmeasured)");
  await exportOf("baseline");

  const checks: string[] = [];
  const measured: Measured[] = [];
  for (const size of sizes) {
    await sleep(IDLE_MS);
    ctx.log(`  9: exporting ${size.entries.toLocaleString("en-US")} entries (${size.name})`);
    const cpuBefore = processGroupCpuMs(group);
    const sampler = startRssSampler(group, SAMPLE_INTERVAL_MS);
    let file: Download;
    let rss: RssSamples;
    try {
      file = await exportOf(size.name);
    } finally {
      rss = sampler.stop();
    }
    const cpuAfter = processGroupCpuMs(group);
    checks.push(...checkFile(size.name, file, size.shape));
    measured.push({
      name: size.name,
      shape: size.shape,
      file,
      rss,
      serverCpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
    });
  }

  const growthMiB = (m: Measured) => toMiB(m.rss.peakBytes - m.rss.firstBytes);
  const rowsPerSecond = (m: Measured) => (m.file.lines - 1) / m.file.seconds;
  const megabytesPerSecond = (m: Measured) => m.file.bytes / 1e6 / m.file.seconds;
  const [baseline, large] = measured as [Measured, Measured];
  const ceiling = round(growthMiB(baseline) + RSS_ALLOWANCE_MIB, 1);

  const table: Table = {
    title: `9. CSV export over HTTP: GET ${EXPORT_PATH} on npm start, a signed-in user, ${EXPORT_BATCH_SIZE} entries per query`,
    headers: [
      "history",
      "rows",
      "MB",
      "seconds",
      "rows/s",
      "MB/s",
      "first byte ms",
      "server CPU s",
      "idle RSS MiB",
      "peak RSS MiB",
      "RSS growth MiB",
      "rise in 2nd half MiB",
      "RSS after MiB",
    ],
    rows: measured.map((m) => [
      m.name,
      m.shape.entries.toLocaleString("en-US"),
      fmt(m.file.bytes / 1e6, 1),
      fmt(m.file.seconds),
      fmt(rowsPerSecond(m), 0),
      fmt(megabytesPerSecond(m)),
      fmt(m.file.firstByteMs, 0),
      m.serverCpuMs === null ? "n/a" : fmt(m.serverCpuMs / 1000),
      fmt(toMiB(m.rss.firstBytes), 1),
      fmt(toMiB(m.rss.peakBytes), 1),
      fmt(growthMiB(m), 1),
      fmt(toMiB(secondHalfRise(m.rss)), 1),
      fmt(toMiB(m.rss.lastBytes), 1),
    ]),
    notes: [
      `RSS: the server's process group (VmRSS summed), sampled every ${SAMPLE_INTERVAL_MS} ms; idle = read ${IDLE_MS} ms after the previous download, just before this one`,
      "rise in 2nd half: how much higher the RSS peaked in the download's second half than in its first (informational: ~0 when memory is bounded by a batch)",
      `one unmeasured export of the baseline history first; seeded (sign-up, generate_series, VACUUM ANALYZE) in ${seedSeconds.toFixed(1)} s`,
    ],
  };
  const targets: TargetResult[] = [
    ceilingTarget(
      9,
      `9 server RSS growth, ${largeEntries.toLocaleString("en-US")}-entry export (<= ${baseline.shape.entries.toLocaleString("en-US")}-entry export's + ${RSS_ALLOWANCE_MIB} MiB)`,
      growthMiB(large),
      ceiling,
      " MiB",
    ),
    checkTarget(9, "9 each file holds the seeded entries", checks.length === 0, checks.join("; ") || "ok"),
  ];
  return {
    tables: [table],
    targets,
    data: {
      route: EXPORT_PATH,
      batchSize: EXPORT_BATCH_SIZE,
      seedSeconds: round(seedSeconds, 1),
      rssAllowanceMiB: RSS_ALLOWANCE_MIB,
      exports: measured.map((m) => ({
        history: m.name,
        entries: m.shape.entries,
        lots: m.shape.lots,
        rows: m.file.lines - 1,
        bytes: m.file.bytes,
        seconds: round(m.file.seconds, 3),
        firstByteMs: round(m.file.firstByteMs, 1),
        rowsPerSecond: round(rowsPerSecond(m), 0),
        megabytesPerSecond: round(megabytesPerSecond(m), 2),
        serverCpuMs: m.serverCpuMs,
        rss: {
          idleMiB: round(toMiB(m.rss.firstBytes), 1),
          peakMiB: round(toMiB(m.rss.peakBytes), 1),
          growthMiB: round(growthMiB(m), 1),
          afterMiB: round(toMiB(m.rss.lastBytes), 1),
          secondHalfRiseMiB: round(toMiB(secondHalfRise(m.rss)), 1),
          /** [ms since the request, MiB] every sample. */
          timeline: m.rss.timeline.map(([ms, bytes]) => [ms, round(toMiB(bytes), 1)]),
        },
      })),
      checks,
    },
    ...(checks.length ? { failed: checks.join("; ") } : {}),
  };
}

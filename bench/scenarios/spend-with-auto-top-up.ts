import { consumeCredits } from "@/credits/consume-credits";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { pick } from "../lib/context";
import { analyze } from "../lib/database";
import { combineRuns, type RunResult, runClosedLoop } from "../lib/load";
import { fmt, ratioTarget } from "../lib/report";
import { seedFundedUsers } from "../lib/seed";
import { LatencyRecorder } from "../lib/stats";

const USERS = 200;
const CREDITS = 10_000_000;
/** Far below the balance: the steady state of a funded account, whose spends cross nothing. */
const THRESHOLD = 1_000;
const CLIENTS = 8;
const MINIMUM_RATIO = 0.9;

/**
 * Spends of accounts with a low-balance alert and auto top-up enabled (a saved card, a package, a
 * threshold and a cap) against spends of accounts with neither, in process, 1 credit each through
 * consumeCredits, 8 clients spread over 200 funded users per side, taking turns (plain, both, auto top-up
 * only, plain …, BENCH_ROUNDS each) so drift falls on all; the third side shows auto top-up's own share.
 * The target: with them ≥ 0.9× without. Both decisions run in the spend's transaction (BEFORE UPDATE triggers on credit_account); their WHEN clauses let a
 * spend that crosses no threshold skip the functions, which is what this measures. A crossing costs one
 * more insert (the attempt, the email row) once per crossing.
 */
export async function runSpendWithAutoTopUp(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config, db, pool } = ctx;
  const plain = await seedFundedUsers(pool, "bench-plain-", USERS, CREDITS);
  const set = await seedFundedUsers(pool, "bench-topup-", USERS, CREDITS);
  const topUpOnly = await seedFundedUsers(pool, "bench-tuonly-", USERS, CREDITS);
  for (const prefix of ["bench-topup-", "bench-tuonly-"])
    await pool.query(
      `INSERT INTO auto_top_up (user_id, enabled, package_id, package_amount, currency, threshold_credits,
                              monthly_cap_amount, payment_method_id, card_brand, card_last4)
     SELECT id, true, 'basic', 999, 'usd', $2, 9990, 'pm_bench', 'visa', '4242' FROM "user" WHERE id LIKE $1 || '%'`,
      [prefix, THRESHOLD],
    );
  await pool.query(
    `UPDATE credit_account SET low_balance_threshold = $2, auto_top_up_threshold = $2, alert_locale = 'en'
     WHERE user_id LIKE $1 || '%'`,
    ["bench-topup-", THRESHOLD],
  );
  await pool.query(`UPDATE credit_account SET auto_top_up_threshold = $2 WHERE user_id LIKE $1 || '%'`, [
    "bench-tuonly-",
    THRESHOLD,
  ]);
  await analyze(pool, ["credit_account", "auto_top_up", "credit_lot", "credit_entry"]);

  let sequence = 0;
  const spendOf = (users: readonly string[]) => async () => {
    const userId = pick(users);
    const key = `bench-topup-spend-${++sequence}`;
    const result = await db.transaction((tx) =>
      consumeCredits(tx, { userId, amount: 1, description: "bench spend", idempotencyKey: key }),
    );
    if (!result.ok) throw new Error(`spend refused: ${result.reason}`);
  };
  const sides = { plain, set, topUpOnly };
  const turns = { plain: [] as RunResult[], set: [] as RunResult[], topUpOnly: [] as RunResult[] };
  const recorders = {
    plain: new LatencyRecorder(),
    set: new LatencyRecorder(),
    topUpOnly: new LatencyRecorder(),
  };
  for (let round = 0; round < config.rounds; round++) {
    for (const side of ["plain", "set", "topUpOnly"] as const) {
      turns[side].push(
        await runClosedLoop({
          concurrency: CLIENTS,
          seconds: config.seconds / config.rounds,
          warmupSeconds: round === 0 ? config.warmupSeconds : Math.min(0.25, config.warmupSeconds),
          operation: spendOf(sides[side]),
          recorder: recorders[side],
        }),
      );
    }
  }
  const without = combineRuns(turns.plain);
  const withBoth = combineRuns(turns.set);
  const withTopUp = combineRuns(turns.topUpOnly);
  const ratio = withBoth.opsPerSecond / without.opsPerSecond;
  const { rows } = await pool.query<{ attempts: string }>(
    "SELECT count(*) AS attempts FROM auto_top_up_attempt",
  );
  const attempts = Number(rows[0]?.attempts ?? 0);
  const errors = without.errors + withBoth.errors + withTopUp.errors;
  const failed =
    errors > 0
      ? `${errors} spends failed: ${without.firstError ?? withBoth.firstError}`
      : attempts > 0
        ? `${attempts} top-ups were decided though no balance crossed its threshold`
        : undefined;
  return {
    tables: [
      {
        title: `Spends with a low-balance alert and auto top-up enabled vs without (${CLIENTS} clients, ${USERS} users each)`,
        headers: ["accounts", "spends/s", "p50 ms", "p99 ms"],
        rows: [
          [
            "without alert or auto top-up",
            fmt(without.opsPerSecond, 0),
            fmt(without.latency.p50),
            fmt(without.latency.p99),
          ],
          [
            "with both enabled",
            fmt(withBoth.opsPerSecond, 0),
            fmt(withBoth.latency.p50),
            fmt(withBoth.latency.p99),
          ],
          [
            "with auto top-up only",
            fmt(withTopUp.opsPerSecond, 0),
            fmt(withTopUp.latency.p50),
            fmt(withTopUp.latency.p99),
          ],
          ["with both / without", `${fmt(ratio)}x`, "", ""],
          [
            "with auto top-up only / without",
            `${fmt(withTopUp.opsPerSecond / without.opsPerSecond)}x`,
            "",
            "",
          ],
        ],
      },
    ],
    targets: [ratioTarget(8, "spends with alerts and auto top-up / without", ratio, MINIMUM_RATIO)],
    data: { without, withBoth, withTopUp, ratio, attempts },
    ...(failed ? { failed } : {}),
  };
}

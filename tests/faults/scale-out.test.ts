import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "@/credits/add-credits";
import type { DatabaseConnection } from "@/db/connect";
import { SWEEP_QUEUE } from "@/jobs/start-jobs";
import { seedUser } from "../support/seed";
import { testId } from "../support/stripe-events";
import {
  type Answer,
  balance,
  deliverWebhook,
  type PendingPurchase,
  type SpendBody,
  type SpendRequest,
  STRIPE_ENV,
  spend,
  succeededEvent,
} from "./support/api";
import {
  connectForSeeding,
  createFaultDatabase,
  type FaultDatabase,
  inspectionPool,
} from "./support/database";
import { accounts, entriesByKey, runVerifyCli } from "./support/ledger";
import { FAULT_SUITE } from "./support/paths";
import { type RoundRobinProxy, startRoundRobinProxy } from "./support/round-robin-proxy";
import { ledgerKeyOf, seedApiKey, seedPendingPurchase, seedUsersWithCredits } from "./support/seed";
import { makeDataDir, type RunningServer, sleep, startServer } from "./support/server";

const INSTANCES = 3;
/**
 * Service-API calls per key per minute (RATE_LIMIT_API_PER_MINUTE) for every instance. Below 2,000 the
 * limiter takes its points from PostgreSQL one at a time (blockSize in src/limits/rate-limit.ts), so the
 * limit is exact across instances. Each case below uses its own API key and stays under it, except the
 * one that tests it.
 */
const API_LIMIT_PER_MINUTE = 600;
/** Case 1: one user's balance and the spends of 1 credit sent against it all at once. */
const HOT_BALANCE = 100;
const HOT_SPENDS = 300;
/** Case 2: purchases, each with its payment_intent.succeeded delivered to every instance at once. */
const RACED_PURCHASES = 5;
/** Case 4: requests over the limit. */
const OVER_LIMIT = 150;
/** Case 3: a lot that expires shortly after the start, beside one that never does. */
const EXPIRING = 30;
const KEPT = 10;
const EXPIRES_AFTER_MS = 15_000;
/** Case 3: firings of the schedule observed while all instances run, and how long to wait for them. */
const FIRINGS_WHILE_ALL_UP = 2;
const SWEEP_WAIT_MS = 170_000;
/** Case 5: the load on the instances when one of them is killed. */
const LOAD_USERS = 4;
const LOAD_GRANT = 1_000_000;
const LOAD_CLIENTS = 12;
const ANSWERED_BEFORE_KILL = 120;
const ANSWERED_AFTER_KILL = 120;
/** Case 5: how often a client sends a spend that got no 2xx again, with the same Idempotency-Key. */
const CLIENT_ATTEMPTS = 6;
/** pg-boss's internal queue through which a cron schedule sends its job (pg-boss/src/timekeeper.js). */
const PG_BOSS_CRON_QUEUE = "__pgboss__send-it";

type Phases = { mark: (name: string) => void; text: () => string };
function phases(): Phases {
  const started = performance.now();
  const marks: string[] = [];
  return {
    mark: (name) => marks.push(`${name} ${Math.round(performance.now() - started)} ms`),
    text: () => marks.join(", "),
  };
}

function statusOf(answer: Answer<unknown>): number | string {
  return answer.answered ? answer.status : `no answer (${answer.hung ? "hung" : answer.error})`;
}

function countBy<T>(items: readonly T[], key: (item: T) => string | number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) {
    const k = String(key(item));
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN);
}

/** Runs `work` over `items`, at most `concurrency` at a time, keeping the order of the results. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T);
    }),
  );
  return results;
}

type JobRow = { state: string; createdOn: Date; minute: string | null };

/**
 * The pg-boss rows of the sweep: its runs (jobs of the SWEEP_QUEUE) and the schedule's firings (the
 * jobs the cron sends through pg-boss's own queue, one per minute it fires for: `singleton_on`).
 * Completed jobs stay in pgboss.job for 12 hours; the archive is read too in case they moved.
 */
async function sweepJobs(pool: pg.Pool): Promise<{ runs: JobRow[]; firings: JobRow[] }> {
  const read = async (where: string, parameters: unknown[]) => {
    const { rows } = await pool.query<{ state: string; created_on: Date; minute: string | null }>(
      `SELECT state::text AS state, created_on, to_char(singleton_on, 'YYYY-MM-DD HH24:MI') AS minute
         FROM pgboss.job WHERE ${where}
       UNION ALL
       SELECT state::text, created_on, to_char(singleton_on, 'YYYY-MM-DD HH24:MI')
         FROM pgboss.archive WHERE ${where}
       ORDER BY created_on`,
      parameters,
    );
    return rows.map((row) => ({ state: row.state, createdOn: row.created_on, minute: row.minute }));
  };
  return {
    runs: await read("name = $1", [SWEEP_QUEUE]),
    firings: await read("name = $1 AND data->>'name' = $2", [PG_BOSS_CRON_QUEUE, SWEEP_QUEUE]),
  };
}

describe.skipIf(!FAULT_SUITE)("scale-out: three production instances on one PostgreSQL", () => {
  let database: FaultDatabase | undefined;
  let proxy: RoundRobinProxy | undefined;
  const dataDirs = Array.from({ length: INSTANCES }, () => makeDataDir());
  let instances: RunningServer[] = [];
  let seed: DatabaseConnection;
  let pool: pg.Pool;
  /** When the last instance was ready: from then on all of them ran the schedule. */
  let allUpAt = 0;
  const fileClock = phases();
  const run = randomBytes(4).toString("hex");
  let expiringUser: string;

  beforeAll(async () => {
    database = await createFaultDatabase("scale");
    proxy = await startRoundRobinProxy();
    const shared = {
      ...STRIPE_ENV,
      // One deployment: the instances share their secrets and public URL (the proxy's), as replicas do.
      BETTER_AUTH_SECRET: randomBytes(32).toString("hex"),
      BETTER_AUTH_URL: proxy.url,
      TRUST_PROXY: "loopback",
      RATE_LIMIT_API_PER_MINUTE: String(API_LIMIT_PER_MINUTE),
    };
    // Started together, as a deployment of three replicas is: they migrate the same database at once.
    instances = await Promise.all(
      dataDirs.map((data, index) =>
        startServer({
          name: `scale-out-${index + 1}`,
          databaseUrl: (database as FaultDatabase).url,
          dataDir: data.dataDir,
          env: shared,
          readyTimeoutMs: 150_000,
        }),
      ),
    );
    allUpAt = Date.now();
    fileClock.mark("three instances ready");
    proxy.setTargets(instances.map((instance) => instance.url));
    seed = await connectForSeeding(database.url);
    pool = inspectionPool(database.url);

    // Case 3's lot is seeded first, so that it comes due while the other cases run.
    expiringUser = await seedUser(seed.db);
    await addCredits(seed.db, {
      userId: expiringUser,
      amount: EXPIRING,
      type: "grant",
      description: "scale-out: expires soon",
      idempotencyKey: "scale-out-expiring",
      expiresAt: new Date(Date.now() + EXPIRES_AFTER_MS),
    });
    await addCredits(seed.db, {
      userId: expiringUser,
      amount: KEPT,
      type: "grant",
      description: "scale-out: never expires",
      idempotencyKey: "scale-out-kept",
    });
  }, 240_000);

  afterAll(async () => {
    fileClock.mark("cases done");
    for (const instance of instances) await instance.kill("SIGKILL").catch(() => {});
    await proxy?.close().catch(() => {});
    await seed?.close().catch(() => {});
    await pool?.end().catch(() => {});
    await database?.drop();
    for (const data of dataDirs) data.remove();
    console.info(`scale-out: whole file ${fileClock.text()}`);
  });

  /** What the proxy forwarded since `from` (an index into its log), by instance and answer. */
  const forwardedSince = (from: number) => proxy!.forwarded().slice(from);

  it("0. the three instances, started together on a fresh database, all start cleanly and serve pages", async () => {
    // A deployment rolls out its replicas at once: each must come up whole, not only its service API (which
    // is what the readiness probe asks). A start-up step that fails leaves an instance that passes the
    // probe and answers 500 to every page.
    const problems: string[] = [];
    for (const [index, instance] of instances.entries()) {
      const page = await fetch(`${instance.url}/en`, { signal: AbortSignal.timeout(20_000) }).catch(
        (error: Error) => error,
      );
      if (page instanceof Error) problems.push(`instance ${index + 1}: GET /en failed: ${page.message}`);
      else {
        await page.body?.cancel();
        if (page.status !== 200) problems.push(`instance ${index + 1}: GET /en answered ${page.status}`);
      }
      const failures = instance.output().match(/^.*(Failed to prepare server|deadlock detected).*$/gm) ?? [];
      if (failures.length > 0)
        problems.push(
          `instance ${index + 1} (${instance.logFile}): ${failures[0]} (${failures.length} lines)`,
        );
    }
    expect(problems, "instances that did not start cleanly").toEqual([]);
  });

  it("1. 300 concurrent spends of 1 against 100 credits, over three instances: exactly 100 succeed", async () => {
    const { key, apiKeyId } = await seedApiKey(seed.db, "scale-out-hot");
    const [user] = await seedUsersWithCredits(seed.db, 1, HOT_BALANCE);
    const userId = user as string;
    const logStart = proxy!.forwarded().length;

    const requests: SpendRequest[] = Array.from({ length: HOT_SPENDS }, (_, i) => ({
      userId,
      amount: 1,
      idempotencyKey: `hot-${run}-${i}`,
    }));
    const started = performance.now();
    const answers = await Promise.all(requests.map((request) => spend(proxy!.url, key, request)));
    const elapsedMs = performance.now() - started;

    // The load was spread: round robin gave each instance a third, and each answered all of its share.
    const forwarded = forwardedSince(logStart);
    expect(countBy(forwarded, (f) => f.target)).toEqual({ 0: 100, 1: 100, 2: 100 });
    expect(forwarded.every((f) => f.outcome.kind === "answered")).toBe(true);
    for (let target = 0; target < INSTANCES; target++) {
      const statuses = countBy(
        forwarded.filter((f) => f.target === target),
        (f) => (f.outcome.kind === "answered" ? f.outcome.status : f.outcome.kind),
      );
      expect(Object.keys(statuses).sort(), `instance ${target + 1} answered both ways`).toEqual([
        "200",
        "402",
      ]);
    }

    // Exactly the balance was spent: 100 answers 200, the other 200 refused as insufficient.
    expect(countBy(answers, statusOf)).toEqual({ 200: HOT_BALANCE, 402: HOT_SPENDS - HOT_BALANCE });
    const refused = answers.filter((a) => a.answered && a.status === 402);
    expect(
      refused.every((a) => a.answered && a.body?.error?.code === "insufficient_credits"),
      JSON.stringify(refused[0]),
    ).toBe(true);
    const succeeded = answers.flatMap((a, i) =>
      a.answered && a.status === 200 ? [{ request: requests[i] as SpendRequest, body: a.body }] : [],
    );
    expect(new Set(succeeded.map((s) => s.body?.entryId)).size, "one entry per success").toBe(HOT_BALANCE);

    // The ledger holds exactly the 100 answered spends; the user has nothing left.
    const entries = await entriesByKey(pool);
    const spends = [...entries.values()].flat().filter((e) => e.userId === userId && e.type === "consume");
    expect(spends).toHaveLength(HOT_BALANCE);
    for (const s of succeeded) {
      const found = entries.get(ledgerKeyOf(apiKeyId, s.request.idempotencyKey)) ?? [];
      expect(
        found.map((e) => [String(e.id), e.amount, e.allocated]),
        s.request.idempotencyKey,
      ).toEqual([[s.body?.entryId, -1, 1]]);
    }
    const shown = await balance(proxy!.url, key, userId);
    expect(shown.answered && [shown.status, shown.body?.balance]).toEqual([200, 0]);
    expect((await accounts(pool)).get(userId)).toMatchObject({ balance: 0, held: 0, debt: 0 });

    const verify = await runVerifyCli(database!.url, dataDirs[0]!.dataDir);
    expect(verify.code, verify.output).toBe(0);

    const latencies = answers.map((a) => a.ms);
    console.info(
      `scale-out 1: ${HOT_SPENDS} concurrent spends of 1 against ${HOT_BALANCE} credits over ${INSTANCES} instances ` +
        `in ${Math.round(elapsedMs)} ms (${Math.round((HOT_SPENDS / elapsedMs) * 1000)}/s): ` +
        `${JSON.stringify(countBy(answers, statusOf))}; latency p50 ${percentile(latencies, 50)} ms, ` +
        `p99 ${percentile(latencies, 99)} ms, max ${percentile(latencies, 100)} ms; per instance ` +
        `${JSON.stringify(countBy(forwarded, (f) => f.target + 1))}`,
    );
  });

  it("2. one payment_intent.succeeded delivered to all three instances at once is credited once", async () => {
    const [buyer] = await seedUsersWithCredits(seed.db, 1, 0);
    const userId = buyer as string;
    const purchases: PendingPurchase[] = [];
    for (let i = 0; i < RACED_PURCHASES; i++) purchases.push(await seedPendingPurchase(seed.db, userId));

    const outcomes: string[][] = [];
    for (const purchase of purchases) {
      const payload = succeededEvent(purchase, testId("evt"));
      // Straight to each instance, not through the proxy: Stripe's retries and duplicates land anywhere.
      const answers = await Promise.all(instances.map((instance) => deliverWebhook(instance.url, payload)));
      const label = `${purchase.paymentIntentId}: ${JSON.stringify(answers)}`;
      expect(answers.map(statusOf), label).toEqual([200, 200, 200]);
      const delivered = answers.map((a) => (a.answered ? String(a.body?.outcome) : "none"));
      outcomes.push(delivered);
      expect(
        delivered.filter((o) => o === "granted"),
        label,
      ).toHaveLength(1);
      expect(
        delivered.filter((o) => o !== "granted").every((o) => o === "duplicate" || o === "already_granted"),
        label,
      ).toBe(true);
    }

    // One grant per purchase, of the package's credits; the purchase names it; the balance counts each once.
    const entries = await entriesByKey(pool);
    const grants = [...entries.values()].flat().filter((e) => e.userId === userId && e.type === "purchase");
    const { rows } = await pool.query<{ payment_intent_id: string; status: string; grant_entry_id: string }>(
      "SELECT payment_intent_id, status, grant_entry_id FROM credit_purchase WHERE user_id = $1",
      [userId],
    );
    for (const purchase of purchases) {
      const granted = grants.filter((e) => e.reference === purchase.paymentIntentId);
      expect(
        granted.map((e) => e.amount),
        purchase.paymentIntentId,
      ).toEqual([purchase.credits]);
      const row = rows.find((r) => r.payment_intent_id === purchase.paymentIntentId);
      expect(row && [row.status, row.grant_entry_id]).toEqual(["succeeded", String(granted[0]?.id)]);
    }
    const credited = purchases.reduce((sum, p) => sum + p.credits, 0);
    expect((await accounts(pool)).get(userId)?.balance).toBe(credited);

    console.info(
      `scale-out 2: ${RACED_PURCHASES} events, each delivered to the ${INSTANCES} instances at once: ` +
        `outcomes ${JSON.stringify(outcomes)}; credited ${credited} = ${grants.length} grants`,
    );
  });

  it("4. the per-key API rate limit holds across the three instances", async () => {
    const { key } = await seedApiKey(seed.db, "scale-out-limited");
    const [user] = await seedUsersWithCredits(seed.db, 1, 0);
    const logStart = proxy!.forwarded().length;
    const total = API_LIMIT_PER_MINUTE + OVER_LIMIT;

    const started = performance.now();
    const answers = await mapConcurrently(
      Array.from({ length: total }, (_, i) => i),
      24,
      () => balance(proxy!.url, key, user as string),
    );
    const elapsedMs = performance.now() - started;
    // The limit is per minute: everything above happened inside one window.
    expect(elapsedMs).toBeLessThan(55_000);

    // Exactly the limit got through, though each instance saw only a third of the requests.
    expect(countBy(answers, statusOf)).toEqual({ 200: API_LIMIT_PER_MINUTE, 429: OVER_LIMIT });
    expect(
      answers
        .filter((a) => a.answered && a.status === 429)
        .every((a) => a.answered && a.body?.error?.code === "rate_limited"),
    ).toBe(true);
    const forwarded = forwardedSince(logStart);
    const perInstance = Array.from({ length: INSTANCES }, (_, target) =>
      countBy(
        forwarded.filter((f) => f.target === target),
        (f) => (f.outcome.kind === "answered" ? f.outcome.status : f.outcome.kind),
      ),
    );
    // Each instance alone saw fewer requests than the limit, and still refused some: the count is shared.
    for (const [target, statuses] of perInstance.entries()) {
      expect((statuses["200"] ?? 0) + (statuses["429"] ?? 0), `instance ${target + 1}`).toBeLessThan(
        API_LIMIT_PER_MINUTE,
      );
      expect(statuses["429"] ?? 0, `instance ${target + 1} refused`).toBeGreaterThan(0);
    }

    console.info(
      `scale-out 4: ${total} balance reads with one key (limit ${API_LIMIT_PER_MINUTE}/min) in ${Math.round(elapsedMs)} ms: ` +
        `${JSON.stringify(countBy(answers, statusOf))}; per instance ${JSON.stringify(perInstance)}`,
    );
  });

  it(
    "3. the scheduled sweep runs once per minute across the three instances, not once per instance",
    async () => {
      // Wait for the schedule to fire at least twice after every instance was up, and for each firing's run
      // to finish.
      const deadline = allUpAt + SWEEP_WAIT_MS;
      let jobs = await sweepJobs(pool);
      const settled = (current: typeof jobs) =>
        current.firings.filter((f) => f.createdOn.getTime() > allUpAt).length >= FIRINGS_WHILE_ALL_UP &&
        current.firings.every((f) => f.state === "completed") &&
        current.runs.length >= current.firings.length &&
        current.runs.every((r) => r.state === "completed" || r.state === "failed");
      while (!settled(jobs) && Date.now() < deadline) {
        await sleep(2_000);
        jobs = await sweepJobs(pool);
      }
      const { runs, firings } = jobs;
      const summary = JSON.stringify({
        firings: firings.map((f) => `${f.minute} ${f.state} ${f.createdOn.toISOString()}`),
        runs: runs.map((r) => `${r.state} ${r.createdOn.toISOString()}`),
      });

      expect(
        firings.filter((f) => f.createdOn.getTime() > allUpAt).length,
        `firings after all ${INSTANCES} instances were up: ${summary}`,
      ).toBeGreaterThanOrEqual(FIRINGS_WHILE_ALL_UP);
      // Once per minute: one firing for each minute, none skipped, from the first start on.
      const minutes = firings.map((f) => f.minute);
      expect(
        countBy(minutes, (m) => String(m)),
        summary,
      ).toEqual(Object.fromEntries(minutes.map((m) => [String(m), 1])));
      const first = Date.parse(`${minutes[0]}Z`);
      const last = Date.parse(`${minutes.at(-1)}Z`);
      expect(minutes.length, `a minute without a firing: ${summary}`).toBe((last - first) / 60_000 + 1);
      // Each firing ran the sweep once, and nothing else ran it: three instances running a schedule of their
      // own would show three runs per minute, a few milliseconds apart.
      expect(runs.length, `runs of the sweep: ${summary}`).toBe(firings.length);
      expect(runs.map((r) => r.state)).toEqual(runs.map(() => "completed"));
      const gaps = runs
        .slice(1)
        .map((r, i) => r.createdOn.getTime() - (runs[i] as JobRow).createdOn.getTime());

      // What users see: the lot that came due expired exactly once, without anyone touching the account.
      const entries = [...(await entriesByKey(pool)).values()]
        .flat()
        .filter((e) => e.userId === expiringUser);
      expect(
        entries.filter((e) => e.type === "expire").map((e) => [e.amount, e.allocated]),
        "expiry entries",
      ).toEqual([[-EXPIRING, EXPIRING]]);
      expect((await accounts(pool)).get(expiringUser)?.balance).toBe(KEPT);

      console.info(
        `scale-out 3: ${runs.length} sweep runs for ${firings.length} firings over minutes ${minutes[0]}..${minutes.at(-1)} ` +
          `(${firings.filter((f) => f.createdOn.getTime() > allUpAt).length} after all instances were up, ` +
          `${Math.round((Date.now() - allUpAt) / 1000)} s after); gaps between runs ${gaps.map((g) => `${Math.round(g / 1000)} s`).join(", ")}`,
      );
    },
    SWEEP_WAIT_MS + 30_000,
  );

  it("5. killing one instance mid-load loses no answered spend; cut-off spends are retried and apply once", async () => {
    const { key, apiKeyId } = await seedApiKey(seed.db, "scale-out-kill");
    const users = await seedUsersWithCredits(seed.db, LOAD_USERS, LOAD_GRANT);
    const victim = 1;
    const logStart = proxy!.forwarded().length;

    type Spend = { request: SpendRequest; attempts: Answer<SpendBody>[] };
    const sent: Spend[] = [];
    let answeredOk = 0;
    let killedAt = Number.POSITIVE_INFINITY;
    let okAfterKill = 0;
    let stop = false;
    // Each client sends one spend after another; one that gets no 2xx (the proxy's 502, a 503) is sent
    // again with the same Idempotency-Key, as the API asks clients to.
    const clients = Array.from({ length: LOAD_CLIENTS }, async (_, client) => {
      for (let i = 0; !stop; i++) {
        const s: Spend = {
          request: {
            userId: users[(client + i) % LOAD_USERS] as string,
            amount: 1 + ((client * 31 + i) % 9),
            idempotencyKey: `kill-${run}-${client}-${i}`,
          },
          attempts: [],
        };
        sent.push(s);
        for (let attempt = 0; attempt < CLIENT_ATTEMPTS; attempt++) {
          const answer = await spend(proxy!.url, key, s.request);
          s.attempts.push(answer);
          if (answer.answered && answer.status < 500) break;
          await sleep(100 * (attempt + 1));
        }
        const last = s.attempts.at(-1);
        if (last?.answered && last.status === 200) {
          answeredOk += 1;
          if (performance.now() > killedAt) okAfterKill += 1;
        }
      }
    });

    const clock = phases();
    const deadline = Date.now() + 60_000;
    // Kill once enough spends were answered and the victim has spends in flight.
    while ((answeredOk < ANSWERED_BEFORE_KILL || proxy!.inFlight(victim) < 2) && Date.now() < deadline)
      await sleep(2);
    const inFlightAtKill = proxy!.inFlight(victim);
    expect(answeredOk, "spends answered before the kill").toBeGreaterThanOrEqual(ANSWERED_BEFORE_KILL);
    const answeredBeforeKill = answeredOk;
    clock.mark(`load to the kill (${answeredBeforeKill} answered)`);
    killedAt = performance.now();
    await instances[victim]!.kill("SIGKILL");
    // The whole process group has exited: from here on nothing can reach it.
    const goneAt = performance.now();
    while (okAfterKill < ANSWERED_AFTER_KILL && Date.now() < deadline) await sleep(20);
    stop = true;
    await Promise.all(clients);
    clock.mark("load after the kill");
    expect(okAfterKill, "the two other instances went on serving").toBeGreaterThanOrEqual(
      ANSWERED_AFTER_KILL,
    );

    // What the victim was handed: answered before it died, or — cut off mid-request — answered 502 to the
    // client (never left hanging), or refused at connect and handed to another instance unseen.
    const toVictim = forwardedSince(logStart).filter((f) => f.target === victim);
    const byOutcome = countBy(toVictim, (f) => f.outcome.kind);
    expect(byOutcome.answered ?? 0, "spends the victim answered before the kill").toBeGreaterThan(0);
    expect(byOutcome.failed ?? 0, "spends cut off by the kill, answered 502").toBeGreaterThan(0);
    const cutOff = new Set(
      toVictim.filter((f) => f.outcome.kind === "failed").map((f) => f.idempotencyKey as string),
    );
    expect(
      toVictim.filter((f) => f.startedAt > goneAt && f.outcome.kind === "answered"),
      "answers from the killed instance to requests sent after it was gone",
    ).toEqual([]);

    // No client was left without an answer: every attempt was answered, by an instance or by the proxy.
    const attempts = sent.flatMap((s) => s.attempts);
    expect(attempts.filter((a) => !a.answered).map(statusOf), "attempts without an answer").toEqual([]);
    expect(countBy(attempts, statusOf), "answers to all attempts").toEqual(
      expect.objectContaining({ 200: expect.any(Number) }),
    );
    expect(
      Object.keys(countBy(attempts, statusOf)).filter((s) => !["200", "502", "503"].includes(s)),
      "unexpected answers",
    ).toEqual([]);

    // Every spend ended 200 and is in the ledger exactly once: the entry every 200 for it named.
    const entries = await entriesByKey(pool);
    let replayedAfterCut = 0;
    for (const s of sent) {
      const label = `${s.request.idempotencyKey}: ${JSON.stringify(s.attempts.map(statusOf))}`;
      const oks = s.attempts.filter((a) => a.answered && a.status === 200);
      expect(oks.length, label).toBe(1);
      const found = entries.get(ledgerKeyOf(apiKeyId, s.request.idempotencyKey)) ?? [];
      expect(
        found.map((e) => [e.userId, e.amount, e.allocated]),
        label,
      ).toEqual([[s.request.userId, -s.request.amount, s.request.amount]]);
      const ok = oks[0];
      if (ok?.answered) {
        expect(ok.body?.entryId, label).toBe(String(found[0]?.id));
        // A spend cut off after it committed is replayed on its retry, not spent again.
        if (cutOff.has(s.request.idempotencyKey) && ok.replayed) replayedAfterCut += 1;
      }
    }
    for (const key of cutOff)
      expect(
        sent.find((s) => s.request.idempotencyKey === key)?.attempts.length,
        `${key} was retried`,
      ).toBeGreaterThan(1);

    const expected = new Map(users.map((userId) => [userId, LOAD_GRANT]));
    for (const s of sent)
      expected.set(s.request.userId, (expected.get(s.request.userId) ?? 0) - s.request.amount);
    const after = await accounts(pool);
    for (const [userId, credits] of expected) expect(after.get(userId)?.balance, userId).toBe(credits);

    const verify = await runVerifyCli(database!.url, dataDirs[0]!.dataDir);
    expect(verify.code, verify.output).toBe(0);
    clock.mark("checked and verified");

    console.info(
      `scale-out 5: ${sent.length} spends by ${LOAD_CLIENTS} clients (${attempts.length} attempts: ` +
        `${JSON.stringify(countBy(attempts, statusOf))}); instance ${victim + 1} SIGKILLed with ${inFlightAtKill} in flight ` +
        `after ${answeredBeforeKill} answered; to it: ${JSON.stringify(byOutcome)}; ${cutOff.size} cut off ` +
        `(${replayedAfterCut} of them had committed and were replayed on their retry); ${okAfterKill} answered by the other two after the kill; ` +
        `${clock.text()}`,
    );
  });
});

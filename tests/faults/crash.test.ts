import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { DatabaseConnection } from "@/db/connect";
import { type Answer, type SpendBody, type SpendRequest, spend } from "./support/api";
import {
  connectForSeeding,
  createFaultDatabase,
  type FaultDatabase,
  inspectionPool,
} from "./support/database";
import { accounts, entriesByKey, runVerifyCli, storedApiAnswers } from "./support/ledger";
import { FAULT_SUITE } from "./support/paths";
import { ledgerKeyOf, seedApiKey, seedUsersWithCredits } from "./support/seed";
import { makeDataDir, type RunningServer, sleep, startServer } from "./support/server";

const USERS = 6;
const GRANT = 1_000_000;
/** Concurrent clients: enough that several spends of one user queue on its account lock at the kill. */
const CLIENTS = 24;
/** The kill comes once this many spends were answered, so the ledger has history on both sides of it. */
const ANSWERED_BEFORE_KILL = 150;

type Sent = { request: SpendRequest; answer: Answer<SpendBody> };

describe.skipIf(!FAULT_SUITE)("crash: the server is SIGKILLed under spend load", () => {
  let database: FaultDatabase | undefined;
  const data = makeDataDir();
  const servers: RunningServer[] = [];
  let seed: DatabaseConnection | undefined;
  let pool: pg.Pool | undefined;

  afterAll(async () => {
    for (const server of servers) await server.kill("SIGKILL").catch(() => {});
    await seed?.close().catch(() => {});
    await pool?.end().catch(() => {});
    await database?.drop();
    data.remove();
  });

  it("keeps every answered spend, leaves nothing half-applied, applies retries at most once", async () => {
    const started = performance.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${Math.round(performance.now() - started)} ms`);
    database = await createFaultDatabase("crash");
    const first = await startServer({ name: "crash", databaseUrl: database.url, dataDir: data.dataDir });
    servers.push(first);
    seed = await connectForSeeding(database.url);
    pool = inspectionPool(database.url);
    const { key, apiKeyId } = await seedApiKey(seed.db, "faults-crash");
    const users = await seedUsersWithCredits(seed.db, USERS, GRANT);
    phase("started and seeded");

    // Spend load: each client sends one spend after another with a fresh Idempotency-Key, until the
    // server stops answering it (the kill): its last request is then the one that was in flight.
    const run = randomBytes(4).toString("hex");
    const sent: Sent[] = [];
    let answeredOk = 0;
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; ; i++) {
        const request: SpendRequest = {
          userId: users[(client + i) % USERS] as string,
          amount: 1 + ((client * 31 + i) % 9),
          idempotencyKey: `crash-${run}-${client}-${i}`,
        };
        const answer = await spend(first.url, key, request);
        sent.push({ request, answer });
        if (!answer.answered) return;
        if (answer.status >= 200 && answer.status < 300) answeredOk += 1;
      }
    });

    const deadline = Date.now() + 60_000;
    while (answeredOk < ANSWERED_BEFORE_KILL && Date.now() < deadline) await sleep(20);
    expect(answeredOk, "spends answered before the kill").toBeGreaterThanOrEqual(ANSWERED_BEFORE_KILL);
    phase("load");
    await first.kill("SIGKILL");
    await Promise.all(clients);
    phase("killed");

    const answered = sent.filter((s) => s.answer.answered);
    const unanswered = sent.filter((s) => !s.answer.answered);
    // Under plain load (no fault yet) every spend must succeed: anything else is a bug of its own.
    expect(
      answered.filter((s) => s.answer.answered && s.answer.status !== 200).map((s) => s.answer),
      "non-200 answers before the kill",
    ).toEqual([]);
    expect(unanswered.length, "every client loses its in-flight request").toBe(CLIENTS);
    expect(unanswered.every((s) => !s.answer.answered && !s.answer.hung)).toBe(true);

    // Restart on the same database and data folder, as a supervisor would.
    const second = await startServer({ name: "crash", databaseUrl: database.url, dataDir: data.dataDir });
    servers.push(second);
    phase("restarted");

    const entries = await entriesByKey(pool);
    const stored = await storedApiAnswers(pool);
    const entryOf = (s: Sent) => entries.get(ledgerKeyOf(apiKeyId, s.request.idempotencyKey)) ?? [];

    // 1. Every spend answered 2xx is in the ledger: one complete entry, the one the answer named.
    for (const s of answered) {
      const found = entryOf(s);
      expect(found, `answered spend ${s.request.idempotencyKey}`).toHaveLength(1);
      const [entry] = found;
      expect(entry).toMatchObject({ userId: s.request.userId, amount: -s.request.amount });
      expect(entry?.allocated).toBe(s.request.amount);
      if (s.answer.answered && s.answer.body) expect(String(entry?.id)).toBe(s.answer.body.entryId);
    }

    // 2. Nothing unanswered is half-applied: a complete entry with its stored answer, or nothing at all.
    const appliedBeforeRetry = new Map<string, number>();
    for (const s of unanswered) {
      const found = entryOf(s);
      expect(found.length, `unanswered spend ${s.request.idempotencyKey}`).toBeLessThanOrEqual(1);
      const [entry] = found;
      if (entry) {
        expect(entry).toMatchObject({ userId: s.request.userId, amount: -s.request.amount });
        expect(entry.allocated).toBe(s.request.amount);
        expect(stored.get(s.request.idempotencyKey)).toBe(200);
        appliedBeforeRetry.set(s.request.idempotencyKey, entry.id);
      } else {
        expect(stored.has(s.request.idempotencyKey), "an idempotency record without its spend").toBe(false);
      }
    }

    // Balances agree with exactly the spends that are in the ledger.
    const expectedBalances = (spends: Sent[]) => {
      const balances = new Map(users.map((userId) => [userId, GRANT]));
      for (const s of spends)
        balances.set(s.request.userId, (balances.get(s.request.userId) ?? 0) - s.request.amount);
      return balances;
    };
    const inLedger = [
      ...answered,
      ...unanswered.filter((s) => appliedBeforeRetry.has(s.request.idempotencyKey)),
    ];
    const afterCrash = await accounts(pool);
    for (const [userId, expected] of expectedBalances(inLedger))
      expect(afterCrash.get(userId)?.balance, `balance of ${userId} after the crash`).toBe(expected);

    // 3. The clients retry their unanswered spends against the restarted server (twice, concurrently):
    // each applies exactly once — the ones that had committed are replayed, not spent again.
    for (let attempt = 1; attempt <= 2; attempt++) {
      const retries = await Promise.all(unanswered.map((s) => spend(second.url, key, s.request)));
      retries.forEach((answer, index) => {
        const s = unanswered[index] as Sent;
        const label = `retry ${attempt} of ${s.request.idempotencyKey}`;
        expect(answer.answered && answer.status, label).toBe(200);
        if (!answer.answered || !answer.body) return;
        const earlier = appliedBeforeRetry.get(s.request.idempotencyKey);
        if (earlier !== undefined) {
          expect(answer.replayed, label).toBe(true);
          expect(answer.body.entryId, label).toBe(String(earlier));
        } else {
          expect(answer.replayed, label).toBe(false);
          appliedBeforeRetry.set(s.request.idempotencyKey, Number(answer.body.entryId));
        }
      });
    }

    const finalEntries = await entriesByKey(pool);
    for (const s of unanswered) {
      const found = finalEntries.get(ledgerKeyOf(apiKeyId, s.request.idempotencyKey)) ?? [];
      expect(
        found.map((entry) => entry.id),
        `entries of ${s.request.idempotencyKey}`,
      ).toEqual([appliedBeforeRetry.get(s.request.idempotencyKey)]);
    }
    const finalAccounts = await accounts(pool);
    for (const [userId, expected] of expectedBalances(sent))
      expect(finalAccounts.get(userId)?.balance, `final balance of ${userId}`).toBe(expected);

    phase("retried");
    // 4. The operators' check of every invariant passes.
    const verify = await runVerifyCli(database.url, data.dataDir);
    expect(verify.code, verify.output).toBe(0);
    phase("verified");

    console.info(
      `crash: ${answered.length} answered, ${unanswered.length} in flight at the kill ` +
        `(${[...unanswered].filter((s) => entryOf(s).length > 0).length} had committed); ${phases.join(", ")}`,
    );
  });
});

import type pg from "pg";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from "rate-limiter-flexible";
import { getServerEnv } from "@/config/env";
import { CreditsError } from "@/credits/errors";
import { getConnection } from "@/db/client";
import type { DatabaseConnection } from "@/db/connect";
import { processSlot } from "@/lib/process-registry";

export class RateLimitedError extends CreditsError<"rate_limited"> {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super("rate_limited", `Too many requests. Retry in ${retryAfterSeconds} s.`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** One limit: `points` per `duration` seconds per key. */
export type RateLimit = { keyPrefix: string; points: number; duration: number };

/** Takes one point for `key`, or throws RateLimitedError (with the seconds until the window resets). */
export type RateLimiter = { take: (key: string) => Promise<void> };

/** The table of src/db/schema/rate-limits.ts, created by the migrations. */
const POINTS_TABLE = "rate_limit_points";

/**
 * Points are taken from the shared store in blocks of about a thousandth of the limit (at least 1), and
 * handed out from memory until the block is used: a spend over HTTP then pays for a round trip to the
 * store only once per block, not once per request. Every point is counted in the store before it is
 * handed out, so all instances together never allow more than the limit; what an instance has taken and
 * not used when its window ends (less than one block) is simply not used by anyone.
 */
function blockSize(points: number): number {
  return Math.max(1, Math.floor(points / 1000));
}

type Slot = { left: number; until: number; blockedUntil: number; refill?: Promise<void> | undefined };

/** A limiter over a store (memory or PostgreSQL) that takes its points in blocks (see blockSize). */
class BlockLimiter implements RateLimiter {
  private readonly slots = new Map<string, Slot>();
  private readonly block: number;

  constructor(
    private readonly store: RateLimiterAbstract,
    private readonly points: number,
  ) {
    this.block = blockSize(points);
  }

  async take(key: string): Promise<void> {
    for (;;) {
      const now = Date.now();
      let slot = this.slots.get(key);
      if (!slot || (slot.until <= now && !slot.refill)) {
        slot = { left: 0, until: 0, blockedUntil: 0 };
        this.slots.set(key, slot);
        if (this.slots.size > 10_000) this.prune(now);
      }
      if (slot.left > 0 && slot.until > now) {
        slot.left -= 1;
        return;
      }
      if (slot.blockedUntil > now) throw new RateLimitedError(secondsUntil(slot.blockedUntil - now));
      slot.refill ??= this.refill(key, slot).finally(() => {
        if (slot) slot.refill = undefined;
      });
      await slot.refill;
    }
  }

  /** Takes a block from the store; keeps the part of it that fell within the limit. */
  private async refill(key: string, slot: Slot): Promise<void> {
    let result: RateLimiterRes;
    try {
      result = await this.store.consume(key, this.block);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      result = error;
    }
    const now = Date.now();
    // consumedPoints includes this block: the points before it were already taken by someone.
    const granted = Math.min(this.block, Math.max(0, this.points - (result.consumedPoints - this.block)));
    slot.left = granted;
    slot.until = now + result.msBeforeNext;
    if (granted === 0) slot.blockedUntil = now + Math.max(1, result.msBeforeNext);
  }

  private prune(now: number): void {
    for (const [key, slot] of this.slots)
      if (slot.until <= now && slot.blockedUntil <= now && !slot.refill) this.slots.delete(key);
  }
}

function secondsUntil(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * A limiter on the app's database: in memory on the embedded database (one process opens it by
 * definition), in PostgreSQL otherwise, so that all app instances share one count per key.
 */
export function createRateLimiter(
  connection: Pick<DatabaseConnection, "db" | "kind">,
  limit: RateLimit,
): RateLimiter {
  const options = { keyPrefix: limit.keyPrefix, points: limit.points, duration: limit.duration };
  if (connection.kind === "pglite") return new BlockLimiter(new RateLimiterMemory(options), limit.points);
  const pool = (connection.db as unknown as { $client: pg.Pool }).$client;
  const store = new RateLimiterPostgres({
    ...options,
    storeClient: pool,
    storeType: "pool",
    tableName: POINTS_TABLE,
    tableCreated: true,
    clearExpiredByTimeout: true,
  });
  return new BlockLimiter(store, limit.points);
}

type Limiters = { purchases: RateLimiter | null; apiKeys: RateLimiter | null; exports: RateLimiter | null };
// One set per process (src/lib/process-registry.ts): every copy of this module counts against the same limits.
const holder = processSlot<{ current?: { connection: DatabaseConnection; limiters: Limiters } }>(
  "rateLimiters",
  () => ({}),
);

function buildLimiters(connection: DatabaseConnection): Limiters {
  const env = getServerEnv();
  return {
    // Each purchase creates a PaymentIntent at Stripe: a loop here costs real API calls.
    purchases:
      env.RATE_LIMIT_PURCHASES_PER_MINUTE > 0
        ? createRateLimiter(connection, {
            keyPrefix: "purchases",
            points: env.RATE_LIMIT_PURCHASES_PER_MINUTE,
            duration: 60,
          })
        : null,
    apiKeys:
      env.RATE_LIMIT_API_PER_MINUTE > 0
        ? createRateLimiter(connection, {
            keyPrefix: "api",
            points: env.RATE_LIMIT_API_PER_MINUTE,
            duration: 60,
          })
        : null,
    // An export reads a user's whole filtered ledger: a loop of them would keep the database busy.
    exports:
      env.RATE_LIMIT_EXPORTS_PER_MINUTE > 0
        ? createRateLimiter(connection, {
            keyPrefix: "exports",
            points: env.RATE_LIMIT_EXPORTS_PER_MINUTE,
            duration: 60,
          })
        : null,
  };
}

/** 0 turns a limit off. Built once per process, on the connection the app uses. */
async function getLimiters(): Promise<Limiters> {
  const connection = await getConnection();
  if (holder.current?.connection !== connection)
    holder.current = { connection, limiters: buildLimiters(connection) };
  return holder.current.limiters;
}

/** Purchase creation and sandbox confirmation, per signed-in user. */
export async function limitPurchases(userId: string): Promise<void> {
  await (await getLimiters()).purchases?.take(userId);
}

/** Service API calls, per API key. */
export async function limitApiKey(apiKeyId: string): Promise<void> {
  await (await getLimiters()).apiKeys?.take(apiKeyId);
}

/** CSV exports of the credit history, per signed-in user (the operator's own id for an operator's export). */
export async function limitExports(userId: string): Promise<void> {
  await (await getLimiters()).exports?.take(userId);
}

import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { getServerEnv } from "@/config/env";
import { CreditsError } from "@/credits/errors";

export class RateLimitedError extends CreditsError<"rate_limited"> {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super("rate_limited", `Too many requests. Retry in ${retryAfterSeconds} s.`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

type Limiters = { purchases: RateLimiterMemory | null; apiKeys: RateLimiterMemory | null };
let limiters: Limiters | undefined;

/**
 * Per-process limits (one app process is the supported deployment for the embedded database; behind a
 * load balancer each instance limits on its own). 0 turns a limit off.
 */
function getLimiters(): Limiters {
  if (limiters) return limiters;
  const env = getServerEnv();
  limiters = {
    // Each purchase creates a PaymentIntent at Stripe: a loop here costs real API calls.
    purchases:
      env.RATE_LIMIT_PURCHASES_PER_MINUTE > 0
        ? new RateLimiterMemory({
            keyPrefix: "purchases",
            points: env.RATE_LIMIT_PURCHASES_PER_MINUTE,
            duration: 60,
          })
        : null,
    apiKeys:
      env.RATE_LIMIT_API_PER_MINUTE > 0
        ? new RateLimiterMemory({ keyPrefix: "api", points: env.RATE_LIMIT_API_PER_MINUTE, duration: 60 })
        : null,
  };
  return limiters;
}

async function take(limiter: RateLimiterMemory | null, key: string): Promise<void> {
  if (!limiter) return;
  try {
    await limiter.consume(key);
  } catch (error) {
    if (error instanceof RateLimiterRes)
      throw new RateLimitedError(Math.max(1, Math.ceil(error.msBeforeNext / 1000)));
    throw error;
  }
}

/** Purchase creation and sandbox confirmation, per signed-in user. */
export function limitPurchases(userId: string): Promise<void> {
  return take(getLimiters().purchases, userId);
}

/** Service API calls, per API key. */
export function limitApiKey(apiKeyId: string): Promise<void> {
  return take(getLimiters().apiKeys, apiKeyId);
}

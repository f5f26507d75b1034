import type { CreditUsage, LowBalanceAlert, LowBalanceThreshold, UsageRange } from "@/credits/schemas";
import { type CreditEntryType, creditEntryTypes } from "@/credits/schemas";
import type { StartedPurchase } from "@/payment/start-purchase";

export type { LowBalanceAlert, LowBalanceThreshold };

/**
 * Browser-side calls to the credits JSON API (same origin, session cookie) and the query keys that cache them.
 * Everything under ["credits"] is invalidated together after a purchase: balance, history and the header badge.
 */

export const creditsKeys = {
  all: ["credits"] as const,
  balance: ["credits", "balance"] as const,
  expiring: ["credits", "expiring"] as const,
  /** The low-balance alert: under ["credits"], so a spend or a purchase that refreshes the balance refreshes the banner. */
  lowBalanceAlert: ["credits", "low-balance-alert"] as const,
  /** Auto top-up: under ["credits"], so a spend or a purchase that refreshes the balance refreshes its status. */
  autoTopUp: ["credits", "auto-top-up"] as const,
  /** The usage view's data for a range in a time zone: under ["credits"], so a spend or a purchase moves it. */
  usage: (range: UsageRange, timeZone: string) => ["credits", "usage", range, timeZone] as const,
  /** One page of a history: whose (its list URL), under which filter (the API query), from which cursor. */
  transactions: (listUrl: string, filter: string, cursor: string | null) =>
    ["credits", "transactions", listUrl, filter, cursor] as const,
  /** The caller's subscription: under ["credits"], so a payment or a renewal refreshes it with the balance. */
  subscription: ["credits", "subscription"] as const,
  /** The plans on sale: the same for everyone and not changed by anything the user does. */
  plans: ["plans"] as const,
  /**
   * One wait for a purchase's outcome (usePurchaseOutcome). Outside ["credits"] on purpose: refreshing the
   * balance must not refetch a settled purchase, and each wait has its own entry, so an answer cached by an
   * earlier wait (a "failed" before another card was tried) is never taken for this one's.
   */
  purchaseWait: (purchaseId: string | null, startedAt: number | null) =>
    ["purchase-wait", purchaseId, startedAt] as const,
};

/** The same shape as GET /api/credits/balance and `getBalance` on the server. */
export type Balance = {
  /** Every credit the user owns, including held ones. */
  balance: number;
  /** Reserved by work in progress. */
  held: number;
  /** What can be spent now: the number the user cares about. */
  available: number;
  /** Owed after a refund took back credits that were already spent; repaid from the next grant. */
  debt: number;
};

export type ExpiringCredits = {
  total: number;
  lots: { lotId: string; credits: number; expiresAt: string }[];
};

/** The ledger's entry types, from the core's own list (a plain module, safe in the browser). */
export const TRANSACTION_TYPES = creditEntryTypes;

export type TransactionType = CreditEntryType;

export type Transaction = {
  id: string;
  type: TransactionType | (string & {});
  amount: number;
  balanceAfter: number;
  description: string | null;
  /** Set on purchase, refund and dispute entries: the page names the package in the reader's language. */
  packageId?: string | null;
  /**
   * Set on a subscription's entries (its period grants, rollovers, and the expiry of their lots): the plan
   * and the period (ISO 8601, [start, end)), so the page words them in the reader's language and zone.
   */
  planId?: string | null;
  periodStart?: string | null;
  periodEnd?: string | null;
  /** What a subscription grant was for: `trial` for a trial's credits, worded as such. */
  periodKind?: string | null;
  /** Set on a period's grant made after the period ended: when its credits stop being usable (ISO 8601). */
  usableUntil?: string | null;
  /**
   * Set with `usableUntil`: `paid_late` (the invoice was paid after the period ended) or `issued_late` (a
   * yearly slot paid in time, issued after its month ended), each worded as such.
   */
  lateReason?: "paid_late" | "issued_late" | null;
  /** The feature a spend paid for (metadata `feature`, or the metered feature's hold). */
  feature?: string | null;
  createdAt: string;
};

export type TransactionPage = { items: Transaction[]; nextCursor: string | null };

export type PurchaseStatus =
  | "pending"
  | "succeeded"
  | "failed"
  | "canceled"
  | "requires_review"
  /** Left unpaid for a day; it still becomes `succeeded` if the payment goes through later. */
  | "abandoned";

export type Purchase = {
  id: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
  status: PurchaseStatus;
  failureMessage: string | null;
};

export type { StartedPurchase };

export type SandboxConfirmResult =
  | { ok: true }
  | { ok: false; kind: "declined"; declineCode: string | null; message: string | null }
  | { ok: false; kind: "invalid_card"; message: string | null }
  | { ok: false; kind: "error"; status: number; message: string | null };

/**
 * An HTTP error from the API, carrying the `{ error: { code, message, retryable } }` body when there is
 * one (src/server/http-errors.ts makes every such body).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
    /** True only where the same request may succeed later (429, 502, 503). */
    readonly retryable = false,
    /** The error body's other fields, e.g. `cost` and `available` of a 402 insufficient_credits. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type ErrorBody = {
  error?: { code?: string; message?: string; declineCode?: string; retryable?: boolean } & Record<
    string,
    unknown
  >;
};

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * One call to the JSON API: the answer's body, or ApiError for an HTTP error; a network failure throws
 * fetch's own TypeError. With `json`, the request is a POST of that body (or `method`'s, when given);
 * `method` alone sends a request without a body (DELETE, or a POST that takes none).
 */
export async function requestJson<T>(
  url: string,
  {
    json,
    method,
    signal,
  }: { json?: unknown; method?: "POST" | "PUT" | "PATCH" | "DELETE"; signal?: AbortSignal | undefined } = {},
): Promise<T> {
  const response = await fetch(url, {
    credentials: "same-origin",
    cache: "no-store",
    signal,
    ...(json === undefined
      ? method
        ? { method }
        : {}
      : {
          method: method ?? "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        }),
  });
  const body = await readJson(response);
  if (!response.ok) {
    const { code, message, retryable, ...details } = (body as ErrorBody | null)?.error ?? {};
    throw new ApiError(
      response.status,
      code ?? null,
      message ?? response.statusText,
      retryable === true,
      details,
    );
  }
  return body as T;
}

function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  return requestJson(url, { signal });
}

export function fetchBalance(signal?: AbortSignal): Promise<Balance> {
  return getJson("/api/credits/balance", signal);
}

export function fetchLowBalanceAlert(signal?: AbortSignal): Promise<LowBalanceAlert> {
  return getJson("/api/credits/low-balance-alert", signal);
}

/** PUT /api/credits/low-balance-alert: sets (or, with null, clears) the threshold; emails in `locale`. */
export function saveLowBalanceAlert(
  threshold: LowBalanceThreshold | null,
  locale: string,
): Promise<LowBalanceAlert> {
  return requestJson("/api/credits/low-balance-alert", { method: "PUT", json: { threshold, locale } });
}

export function fetchExpiringCredits(signal?: AbortSignal): Promise<ExpiringCredits> {
  return getJson("/api/credits/expiring", signal);
}

export type { CreditUsage, UsageRange };

/** GET /api/credits/usage: spends by feature, balance, expiry and the forecast, days in `timeZone`. */
export function fetchUsage(range: UsageRange, timeZone: string, signal?: AbortSignal): Promise<CreditUsage> {
  const params = new URLSearchParams({ range: String(range), timeZone });
  return getJson(`/api/credits/usage?${params.toString()}`, signal);
}

/**
 * One page of a history: GET `listUrl` (the user's /api/credits/transactions, or an operator's
 * /api/admin/users/{id}/transactions) with the filter's query (`filter`, URL-encoded) and the cursor.
 */
export function fetchTransactions(
  cursor: string | null,
  limit: number,
  signal?: AbortSignal,
  listUrl = "/api/credits/transactions",
  filter = "",
): Promise<TransactionPage> {
  const params = new URLSearchParams(filter);
  params.set("limit", String(limit));
  if (cursor) params.set("cursor", cursor);
  return getJson(`${listUrl}?${params.toString()}`, signal);
}

export function fetchPurchase(purchaseId: string, signal?: AbortSignal): Promise<Purchase> {
  return getJson(`/api/credits/purchases/${encodeURIComponent(purchaseId)}`, signal);
}

/** POST /api/credits/purchases: the server prices the package; ApiError (e.g. rate_limited) otherwise. */
export function startPurchase(packageId: string): Promise<StartedPurchase> {
  return requestJson("/api/credits/purchases", { json: { packageId } });
}

/** Network failures throw; every HTTP answer becomes a typed result the dialog can show. */
export async function confirmSandboxPayment(
  paymentIntentId: string,
  cardNumber: string,
): Promise<SandboxConfirmResult> {
  const response = await fetch(
    `/api/sandbox/payment-intents/${encodeURIComponent(paymentIntentId)}/confirm`,
    {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cardNumber }),
    },
  );
  const body = (await readJson(response)) as (ErrorBody & { status?: string }) | null;
  if (response.ok && body?.status === "succeeded") return { ok: true };
  const error = body?.error;
  if (response.status === 402) {
    return {
      ok: false,
      kind: "declined",
      declineCode: error?.declineCode ?? null,
      message: error?.message ?? null,
    };
  }
  if (response.status === 400 && error?.code === "invalid_card") {
    return { ok: false, kind: "invalid_card", message: error.message ?? null };
  }
  return { ok: false, kind: "error", status: response.status, message: error?.message ?? null };
}

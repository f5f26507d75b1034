import { type CreditEntryType, creditEntryTypes } from "@/credits/schemas";

/**
 * Browser-side calls to the credits JSON API (same origin, session cookie) and the query keys that cache them.
 * Everything under ["credits"] is invalidated together after a purchase: balance, history and the header badge.
 */

export const creditsKeys = {
  all: ["credits"] as const,
  balance: ["credits", "balance"] as const,
  expiring: ["credits", "expiring"] as const,
  transactions: (cursor: string | null) => ["credits", "transactions", cursor] as const,
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

export type SandboxConfirmResult =
  | { ok: true }
  | { ok: false; kind: "declined"; declineCode: string | null; message: string | null }
  | { ok: false; kind: "invalid_card"; message: string | null }
  | { ok: false; kind: "error"; status: number; message: string | null };

/** An HTTP error from the API, carrying the `{ error: { code, message } }` body when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type ErrorBody = { error?: { code?: string; message?: string; declineCode?: string } };

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store", signal });
  const body = await readJson(response);
  if (!response.ok) {
    const error = (body as ErrorBody | null)?.error;
    throw new ApiError(response.status, error?.code ?? null, error?.message ?? response.statusText);
  }
  return body as T;
}

export function fetchBalance(signal?: AbortSignal): Promise<Balance> {
  return getJson("/api/credits/balance", signal);
}

export function fetchExpiringCredits(signal?: AbortSignal): Promise<ExpiringCredits> {
  return getJson("/api/credits/expiring", signal);
}

export function fetchTransactions(
  cursor: string | null,
  limit: number,
  signal?: AbortSignal,
): Promise<TransactionPage> {
  const params = new URLSearchParams({ limit: String(limit) });
  if (cursor) params.set("cursor", cursor);
  return getJson(`/api/credits/transactions?${params.toString()}`, signal);
}

export function fetchPurchase(purchaseId: string, signal?: AbortSignal): Promise<Purchase> {
  return getJson(`/api/credits/purchases/${encodeURIComponent(purchaseId)}`, signal);
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

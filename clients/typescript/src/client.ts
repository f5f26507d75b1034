import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./generated/openapi.js";
import { createTransport, IDEMPOTENCY_KEY_HEADER } from "./transport.js";

type Schemas = components["schemas"];
export type Balance = Schemas["Balance"];
export type ConsumeRequest = Schemas["ConsumeRequest"];
export type EntryResult = Schemas["EntryResult"];
export type GrantRequest = Schemas["GrantRequest"];
export type GrantResult = Schemas["GrantResult"];
export type HoldRequest = Schemas["HoldRequest"];
export type HoldResult = Schemas["HoldResult"];
export type CaptureRequest = Schemas["CaptureRequest"];
export type CaptureResult = Schemas["CaptureResult"];
export type ReleaseResult = Schemas["ReleaseResult"];
export type TransactionPage = Schemas["TransactionPage"];
export type Customer = Schemas["Customer"];
export type CustomerRequest = Schemas["CustomerRequest"];
export type CustomerWithBalance = Schemas["CustomerWithBalance"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type CreateWebhookEndpointRequest = Schemas["CreateWebhookEndpointRequest"];
export type CreatedWebhookEndpoint = Schemas["CreatedWebhookEndpoint"];
export type DeletedWebhookEndpoint = Schemas["DeletedWebhookEndpoint"];
export type WebhookDeliveryList = Schemas["WebhookDeliveryList"];
export type ResentWebhookDelivery = Schemas["ResentWebhookDelivery"];
export type LowBalanceThresholdRequest = Schemas["LowBalanceThresholdRequest"];
export type LowBalanceThreshold = Schemas["LowBalanceThreshold"];

/** A customer's account after a PUT: `created` is true when this call made it (201), false when it updated it (200). */
export type UpsertedCustomer = Customer & { created: boolean };

/**
 * The accounts of your own customers, named by your external id (1-255 characters: letters, digits and
 * `_ - . : @ |`, case-sensitive). The same operations as for signed-up users, under
 * `/customers/{externalId}/…`; a customer that does not exist answers 404 `customer_not_found` (create it with
 * `upsert` first). Holds made here are captured and released with `captureHold` and `releaseHold`.
 */
export type CustomersClient = {
  /**
   * Creates the customer (`created: true`) or updates its email, name or metadata (`created: false`).
   * A field left out keeps its value; `null` clears it. Idempotent by nature: the same call twice leaves the
   * same customer, so it sends no Idempotency-Key. Scope `admin`.
   */
  upsert(externalId: string, body?: CustomerRequest, options?: CallOptions): Promise<UpsertedCustomer>;
  /** The customer with its balance. Throws 404 `customer_not_found` for an unknown external id. Scope `read`. */
  get(externalId: string, options?: CallOptions): Promise<CustomerWithBalance>;
  /** The customer's balance: total, held, available, debt and plan. Scope `read`. */
  getBalance(externalId: string, options?: CallOptions): Promise<Balance>;
  /** One page of the customer's ledger entries, newest first (`limit` 1–100, default 20). Scope `read`. */
  listTransactions(
    externalId: string,
    query?: { limit?: number; cursor?: string },
    options?: CallOptions,
  ): Promise<TransactionPage>;
  /** Spends `amount` credits, all or nothing; 402 `insufficient_credits` (with `available`). Scope `spend`. */
  consume(externalId: string, body: ConsumeRequest, options?: MutationOptions): Promise<EntryResult>;
  /** Adds a lot of `amount` credits (optionally expiring at `expiresAt`). Scope `grant`. */
  grant(externalId: string, body: GrantRequest, options?: MutationOptions): Promise<GrantResult>;
  /** Reserves `amount` credits for up to `ttlSeconds`; 402 `insufficient_credits` when not available. Scope `holds`. */
  createHold(externalId: string, body: HoldRequest, options?: MutationOptions): Promise<HoldResult>;
  /**
   * Sets the credits under which the customer's available balance counts as low (the `balance.low` event),
   * or turns it off with `threshold: null`. Idempotent by nature (it sets a value): no Idempotency-Key.
   * Scope `admin`.
   */
  setLowBalanceThreshold(
    externalId: string,
    body: LowBalanceThresholdRequest,
    options?: CallOptions,
  ): Promise<LowBalanceThreshold>;
};

/**
 * Receivers of creditkit's outbound events (scope `admin` for all of them). Each endpoint gets the event
 * types it asks for, signed with its own secret (`whsec_…`), shown only in `create`'s answer.
 */
export type WebhookEndpointsClient = {
  /** Registers `url` (http or https) for `eventTypes`; the answer carries the signing secret, once. */
  create(body: CreateWebhookEndpointRequest, options?: MutationOptions): Promise<CreatedWebhookEndpoint>;
  /** Every registered endpoint (without secrets). */
  list(options?: CallOptions): Promise<WebhookEndpoint[]>;
  /** Removes an endpoint with its deliveries and their log: nothing more is sent to it. 404 `not_found` for an unknown id. */
  delete(endpointId: string, options?: MutationOptions): Promise<DeletedWebhookEndpoint>;
  /** The endpoint's newest deliveries with their recent attempts (`limit` 1–100). */
  listDeliveries(
    endpointId: string,
    query?: { limit?: number },
    options?: CallOptions,
  ): Promise<WebhookDeliveryList["items"]>;
  /** Sends a delivery again now (same event, same `webhook-id`), whatever its status. */
  resendDelivery(deliveryId: string, options?: MutationOptions): Promise<ResentWebhookDelivery>;
};

/** The service API's operations as openapi-fetch types them (generated from openapi.json). */
export type ServiceApi = Client<paths>;

export type CreditkitClientOptions = {
  /**
   * Where creditkit is served, e.g. `https://credits.example.com`. The service API's prefix `/api/v1` is
   * added unless the URL already ends with it.
   */
  baseUrl: string;
  /** An API key (`ck_…`, made in Admin → API keys or with `npm run credits -- api-key create`). */
  apiKey: string;
  /** Retries after the first attempt, for 429, 503 and requests that got no answer (default 3; 0: none). */
  maxRetries?: number;
  /**
   * The longest wait before one retry, in milliseconds (default 30,000). A `Retry-After` asking for longer
   * is not waited for: the CreditkitError is thrown at once with `retryAfterSeconds`.
   */
  maxRetryDelayMs?: number;
  /** Each attempt is abandoned after this many milliseconds (default 30,000) and counts as a network error. */
  timeoutMs?: number;
  /** The fetch to send requests with (default: the global fetch). */
  fetch?: typeof globalThis.fetch;
};

/** Per-call options of reads. */
export type CallOptions = {
  /** Abandons the call (and its retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
};

/** Per-call options of mutations. */
export type MutationOptions = CallOptions & {
  /**
   * The call's Idempotency-Key (1–255 characters of `A–Z a–z 0–9 _ - : .`). Default: a random UUID, made
   * once per call and sent on each of its retries. Pass your own (e.g. your order id) to make a call safe to
   * repeat across restarts: a repeat answers what the first call answered and applies nothing again.
   */
  idempotencyKey?: string;
};

/**
 * A client of the creditkit service API. Every method resolves with the API's answer or throws:
 * CreditkitError for an error answer (after retries), CreditkitConnectionError when no answer came.
 * Credits are whole numbers; times are ISO 8601 strings.
 */
export type CreditkitClient = {
  /** The user's balance: total, held by open holds, available to spend, debt, and plan. Scope `read`. */
  getBalance(userId: string, options?: CallOptions): Promise<Balance>;
  /** One page of the user's ledger entries, newest first (`limit` 1–100, default 20; pass `nextCursor` on). Scope `read`. */
  listTransactions(
    userId: string,
    query?: { limit?: number; cursor?: string },
    options?: CallOptions,
  ): Promise<TransactionPage>;
  /**
   * Spends `amount` credits now, soonest-expiring first, all or nothing. Throws CreditkitError 402
   * `insufficient_credits` (with `available`) when the user cannot afford it. Scope `spend`.
   */
  consume(userId: string, body: ConsumeRequest, options?: MutationOptions): Promise<EntryResult>;
  /** Adds a lot of `amount` credits (optionally expiring at `expiresAt`); debt is repaid from it first. Scope `grant`. */
  grant(userId: string, body: GrantRequest, options?: MutationOptions): Promise<GrantResult>;
  /**
   * Reserves `amount` credits for up to `ttlSeconds` (then the hold expires and releases itself): they stay
   * the user's but cannot be spent elsewhere. Throws 402 `insufficient_credits` when not available. Scope `holds`.
   */
  createHold(userId: string, body: HoldRequest, options?: MutationOptions): Promise<HoldResult>;
  /**
   * Spends a hold: `amount` (default: all of it, at most what it reserved) is consumed and the rest
   * released. Throws 409 `hold_not_open` once it was captured, released or expired. Scope `holds`.
   */
  captureHold(holdId: string, body?: CaptureRequest, options?: MutationOptions): Promise<CaptureResult>;
  /** Releases a hold without spending anything. Throws 409 `hold_not_open` when it is not open. Scope `holds`. */
  releaseHold(holdId: string, options?: MutationOptions): Promise<ReleaseResult>;
  /** Your own customers' accounts, by external id. */
  customers: CustomersClient;
  /** Where creditkit sends its signed events. */
  webhookEndpoints: WebhookEndpointsClient;
  /**
   * Every operation of the OpenAPI document, typed (openapi-fetch), with the same key, Idempotency-Keys,
   * retries and errors as the methods above: for operations without a method here. Failures throw, so
   * `data` is set whenever the call returns. Pass your own key as `headers: { "Idempotency-Key": … }`.
   */
  api: ServiceApi;
};

/** `baseUrl` with the service API's prefix, without a trailing slash. */
function serviceApiUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  const path = url.pathname.replace(/\/+$/, "");
  url.pathname = path.endsWith("/api/v1") ? path : `${path}/api/v1`;
  return url.toString().replace(/\/+$/, "");
}

function mutationInit(options: MutationOptions | undefined) {
  return {
    ...(options?.signal ? { signal: options.signal } : {}),
    ...(options?.idempotencyKey ? { headers: { [IDEMPOTENCY_KEY_HEADER]: options.idempotencyKey } } : {}),
  };
}

function readInit(options: CallOptions | undefined) {
  return options?.signal ? { signal: options.signal } : {};
}

/** The answer's data: the transport throws on every failure, so a returned call always has it. */
function dataOf<T>(result: { data?: T; response: Response }): T {
  if (result.data === undefined) throw new Error(`The API answered ${result.response.status} without a body`);
  return result.data;
}

/**
 * Makes a client of the creditkit service API.
 *
 * @example
 * const credits = createCreditkitClient({ baseUrl: "https://credits.example.com", apiKey: process.env.CREDITKIT_API_KEY! });
 * const { balance } = await credits.consume(userId, { amount: 5, description: "image generation" });
 */
export function createCreditkitClient(options: CreditkitClientOptions): CreditkitClient {
  if (!options.apiKey) throw new TypeError("createCreditkitClient: apiKey is required");
  const api = createClient<paths>({
    baseUrl: serviceApiUrl(options.baseUrl),
    fetch: createTransport({
      apiKey: options.apiKey,
      maxRetries: options.maxRetries ?? 3,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
      timeoutMs: options.timeoutMs ?? 30_000,
      initialRetryDelayMs: 500,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    }),
  });
  const customers: CustomersClient = {
    upsert: async (externalId, body, callOptions) => {
      const result = await api.PUT("/customers/{externalId}", {
        params: { path: { externalId } },
        body: body ?? {},
        ...readInit(callOptions),
      });
      return { ...dataOf(result), created: result.response.status === 201 };
    },
    get: async (externalId, callOptions) =>
      dataOf(
        await api.GET("/customers/{externalId}", {
          params: { path: { externalId } },
          ...readInit(callOptions),
        }),
      ),
    getBalance: async (externalId, callOptions) =>
      dataOf(
        await api.GET("/customers/{externalId}/balance", {
          params: { path: { externalId } },
          ...readInit(callOptions),
        }),
      ),
    listTransactions: async (externalId, query, callOptions) =>
      dataOf(
        await api.GET("/customers/{externalId}/transactions", {
          params: { path: { externalId }, ...(query ? { query } : {}) },
          ...readInit(callOptions),
        }),
      ),
    consume: async (externalId, body, callOptions) =>
      dataOf(
        await api.POST("/customers/{externalId}/consume", {
          params: { path: { externalId } },
          body,
          ...mutationInit(callOptions),
        }),
      ),
    grant: async (externalId, body, callOptions) =>
      dataOf(
        await api.POST("/customers/{externalId}/grants", {
          params: { path: { externalId } },
          body,
          ...mutationInit(callOptions),
        }),
      ),
    createHold: async (externalId, body, callOptions) =>
      dataOf(
        await api.POST("/customers/{externalId}/holds", {
          params: { path: { externalId } },
          body,
          ...mutationInit(callOptions),
        }),
      ),
    setLowBalanceThreshold: async (externalId, body, callOptions) =>
      dataOf(
        await api.PUT("/customers/{externalId}/low-balance-threshold", {
          params: { path: { externalId } },
          body,
          ...readInit(callOptions),
        }),
      ),
  };
  const webhookEndpoints: WebhookEndpointsClient = {
    create: async (body, callOptions) =>
      dataOf(await api.POST("/webhook-endpoints", { body, ...mutationInit(callOptions) })),
    list: async (callOptions) => dataOf(await api.GET("/webhook-endpoints", readInit(callOptions))).items,
    delete: async (endpointId, callOptions) =>
      dataOf(
        await api.DELETE("/webhook-endpoints/{endpointId}", {
          params: { path: { endpointId } },
          ...mutationInit(callOptions),
        }),
      ),
    listDeliveries: async (endpointId, query, callOptions) =>
      dataOf(
        await api.GET("/webhook-endpoints/{endpointId}/deliveries", {
          params: { path: { endpointId }, ...(query ? { query } : {}) },
          ...readInit(callOptions),
        }),
      ).items,
    resendDelivery: async (deliveryId, callOptions) =>
      dataOf(
        await api.POST("/webhook-deliveries/{deliveryId}/resend", {
          params: { path: { deliveryId } },
          ...mutationInit(callOptions),
        }),
      ),
  };
  return {
    api,
    customers,
    webhookEndpoints,
    getBalance: async (userId, callOptions) =>
      dataOf(
        await api.GET("/users/{userId}/balance", { params: { path: { userId } }, ...readInit(callOptions) }),
      ),
    listTransactions: async (userId, query, callOptions) =>
      dataOf(
        await api.GET("/users/{userId}/transactions", {
          params: { path: { userId }, ...(query ? { query } : {}) },
          ...readInit(callOptions),
        }),
      ),
    consume: async (userId, body, callOptions) =>
      dataOf(
        await api.POST("/users/{userId}/consume", {
          params: { path: { userId } },
          body,
          ...mutationInit(callOptions),
        }),
      ),
    grant: async (userId, body, callOptions) =>
      dataOf(
        await api.POST("/users/{userId}/grants", {
          params: { path: { userId } },
          body,
          ...mutationInit(callOptions),
        }),
      ),
    createHold: async (userId, body, callOptions) =>
      dataOf(
        await api.POST("/users/{userId}/holds", {
          params: { path: { userId } },
          body,
          ...mutationInit(callOptions),
        }),
      ),
    captureHold: async (holdId, body, callOptions) =>
      dataOf(
        await api.POST("/holds/{holdId}/capture", {
          params: { path: { holdId } },
          body: body ?? {},
          ...mutationInit(callOptions),
        }),
      ),
    releaseHold: async (holdId, callOptions) =>
      dataOf(
        await api.POST("/holds/{holdId}/release", {
          params: { path: { holdId } },
          ...mutationInit(callOptions),
        }),
      ),
  };
}

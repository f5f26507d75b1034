import { randomUUID } from "node:crypto";
import type { CurrentPlan } from "../../src/payment/subscriptions/get-current-plan";
import captureHold from "../../src/routes/v1/capture-hold";
import consume from "../../src/routes/v1/consume";
import createHold from "../../src/routes/v1/create-hold";
import customerConsume from "../../src/routes/v1/customers/consume";
import customerCreateHold from "../../src/routes/v1/customers/create-hold";
import customerGetBalance from "../../src/routes/v1/customers/get-balance";
import customerGrant from "../../src/routes/v1/customers/grant";
import customerListTransactions from "../../src/routes/v1/customers/list-transactions";
import getBalance from "../../src/routes/v1/get-balance";
import getCustomer from "../../src/routes/v1/get-customer";
import grant from "../../src/routes/v1/grant";
import listTransactions from "../../src/routes/v1/list-transactions";
import putCustomer from "../../src/routes/v1/put-customer";
import releaseHold from "../../src/routes/v1/release-hold";
import { handlerOf } from "./route-handlers";

const capturePost = handlerOf(captureHold);
const releasePost = handlerOf(releaseHold);
const balanceGet = handlerOf(getBalance);
const consumePost = handlerOf(consume);
const grantsPost = handlerOf(grant);
const holdsPost = handlerOf(createHold);
const transactionsGet = handlerOf(listTransactions);
const customerPut = handlerOf(putCustomer);
const customerGet = handlerOf(getCustomer);
const customerBalanceGet = handlerOf(customerGetBalance);
const customerConsumePost = handlerOf(customerConsume);
const customerGrantsPost = handlerOf(customerGrant);
const customerHoldsPost = handlerOf(customerCreateHold);
const customerTransactionsGet = handlerOf(customerListTransactions);

/** How another backend calls the service API. */
export type V1Call = {
  /** The API key, sent as `Authorization: Bearer <key>`. */
  key?: string;
  /** The raw Authorization header instead (null: none at all). */
  authorization?: string | null;
  /** Mutations only. A fresh UUID unless given; null sends none. */
  idempotencyKey?: string | null;
  /** Sent as JSON with content-type application/json. */
  json?: unknown;
  /** Sent verbatim; set contentType yourself. */
  body?: string | Uint8Array<ArrayBuffer>;
  contentType?: string;
  /** Query string, without the "?". */
  query?: string;
};

export type V1Error = { code: string; message: string; available?: number };

export type V1Response<Body> = {
  status: number;
  /** On an error answer only `error` is present; the success fields are absent. */
  body: Body & { error?: V1Error };
  /** The `idempotent-replayed: true` header: this answer is the stored answer of an earlier request. */
  replayed: boolean;
};

export type BalanceBody = {
  balance: number;
  held: number;
  available: number;
  debt: number;
  plan: CurrentPlan;
};
export type EntryBody = { entryId: string; balance: number };
export type GrantBody = { entryId: string; lotId: string; balance: number };
export type HoldBody = { holdId: string; expiresAt: string };
export type CaptureBody = { entryId: string | null; balance: number };
export type ReleaseBody = { holdId: string; status: "released"; balance: number };
export type TransactionsBody = {
  items: {
    id: string;
    type: string;
    amount: number;
    balanceAfter: number;
    description: string;
    createdAt: string;
  }[];
  nextCursor: string | null;
};

/** Where the app is served; the service API reads only the path. */
const APP_ORIGIN = "http://localhost:3000";

type RouteHandler<Params> = (
  request: Request,
  context: { params: Promise<Params> },
) => Response | Promise<Response>;

/** One answer a test received: which operation (as the OpenAPI document names it), its status and headers. */
export type ObservedAnswer = {
  method: "get" | "post" | "put";
  path: string;
  status: number;
  retryAfter: boolean;
  replayed: boolean;
};

/**
 * Every answer the v1 helpers returned in this test file, so a file can check that the OpenAPI document
 * describes what the routes really answered (see undocumentedAnswers).
 */
export const observedAnswers: ObservedAnswer[] = [];

async function send<Body, Params>(
  handler: RouteHandler<Params>,
  method: "GET" | "POST" | "PUT",
  pathname: string,
  params: Params,
  call: V1Call,
): Promise<V1Response<Body>> {
  const template = pathname
    .replace(/^\/api\/v1\/users\/[^/]+/, "/users/{userId}")
    .replace(/^\/api\/v1\/holds\/[^/]+/, "/holds/{holdId}")
    .replace(/^\/api\/v1\/customers\/[^/]+/, "/customers/{externalId}");
  const headers = new Headers();
  const authorization = call.authorization === undefined ? `Bearer ${call.key}` : call.authorization;
  if (authorization !== null) headers.set("authorization", authorization);
  if (method === "POST") {
    const idempotencyKey = call.idempotencyKey === undefined ? randomUUID() : call.idempotencyKey;
    if (idempotencyKey !== null) headers.set("idempotency-key", idempotencyKey);
  }
  let body = call.body;
  if (call.json !== undefined) {
    body = JSON.stringify(call.json);
    headers.set("content-type", "application/json");
  }
  if (call.contentType) headers.set("content-type", call.contentType);
  const url = new URL(`${pathname}${call.query ? `?${call.query}` : ""}`, APP_ORIGIN);
  const response = await handler(new Request(url, { method, headers, body }), {
    params: Promise.resolve(params),
  });
  const replayed = response.headers.get("idempotent-replayed") === "true";
  observedAnswers.push({
    method: method === "GET" ? "get" : method === "PUT" ? "put" : "post",
    path: template,
    status: response.status,
    retryAfter: response.headers.has("retry-after"),
    replayed,
  });
  return {
    status: response.status,
    body: (await response.json()) as Body & { error?: V1Error },
    replayed,
  };
}

type DocumentedResponse = { headers?: Record<string, unknown> };
type OpenApiPaths = Record<string, Record<string, { responses: Record<string, DocumentedResponse> }>>;

/**
 * The observed answers the OpenAPI document does not describe: a status the operation does not list, or
 * a `Retry-After` / `Idempotent-Replayed` header its response does not declare. Each problem once.
 */
export function undocumentedAnswers(document: { paths: OpenApiPaths }, observed: ObservedAnswer[]): string[] {
  const problems = new Set<string>();
  for (const answer of observed) {
    const where = `${answer.method.toUpperCase()} ${answer.path} ${answer.status}`;
    const response = document.paths[answer.path]?.[answer.method]?.responses[String(answer.status)];
    if (!response) {
      problems.add(`${where}: status not documented`);
      continue;
    }
    if (answer.retryAfter && !response.headers?.["Retry-After"])
      problems.add(`${where}: Retry-After not documented`);
    if (answer.replayed && !response.headers?.["Idempotent-Replayed"])
      problems.add(`${where}: Idempotent-Replayed not documented`);
  }
  return [...problems].sort();
}

const users = (userId: string) => `/api/v1/users/${encodeURIComponent(userId)}`;
const holds = (holdId: string) => `/api/v1/holds/${encodeURIComponent(holdId)}`;

/** The seven service-API endpoints, called through the app's dispatch (src/server/api-app.ts) as a server would. */
export const v1 = {
  balance: (userId: string, call: V1Call) =>
    send<BalanceBody, { userId: string }>(balanceGet, "GET", `${users(userId)}/balance`, { userId }, call),
  transactions: (userId: string, call: V1Call) =>
    send<TransactionsBody, { userId: string }>(
      transactionsGet,
      "GET",
      `${users(userId)}/transactions`,
      { userId },
      call,
    ),
  consume: (userId: string, call: V1Call) =>
    send<EntryBody, { userId: string }>(consumePost, "POST", `${users(userId)}/consume`, { userId }, call),
  grant: (userId: string, call: V1Call) =>
    send<GrantBody, { userId: string }>(grantsPost, "POST", `${users(userId)}/grants`, { userId }, call),
  hold: (userId: string, call: V1Call) =>
    send<HoldBody, { userId: string }>(holdsPost, "POST", `${users(userId)}/holds`, { userId }, call),
  capture: (holdId: string, call: V1Call) =>
    send<CaptureBody, { holdId: string }>(capturePost, "POST", `${holds(holdId)}/capture`, { holdId }, call),
  release: (holdId: string, call: V1Call) =>
    send<ReleaseBody, { holdId: string }>(releasePost, "POST", `${holds(holdId)}/release`, { holdId }, call),
};

export type CustomerBody = {
  externalId: string;
  userId: string;
  email: string | null;
  name: string | null;
  metadata: Record<string, unknown>;
  createdAt: string;
};

const customers = (externalId: string) => `/api/v1/customers/${encodeURIComponent(externalId)}`;

/**
 * The customer endpoints (PUT and GET /customers/{externalId}) and the user-scoped endpoints under
 * /customers/{externalId}/, called through the app's dispatch like `v1`.
 */
export const v1Customers = {
  put: (externalId: string, call: V1Call) =>
    send<CustomerBody, { externalId: string }>(
      customerPut,
      "PUT",
      customers(externalId),
      { externalId },
      call,
    ),
  get: (externalId: string, call: V1Call) =>
    send<CustomerBody & { balance: BalanceBody }, { externalId: string }>(
      customerGet,
      "GET",
      customers(externalId),
      { externalId },
      call,
    ),
  balance: (externalId: string, call: V1Call) =>
    send<BalanceBody, { externalId: string }>(
      customerBalanceGet,
      "GET",
      `${customers(externalId)}/balance`,
      { externalId },
      call,
    ),
  transactions: (externalId: string, call: V1Call) =>
    send<TransactionsBody, { externalId: string }>(
      customerTransactionsGet,
      "GET",
      `${customers(externalId)}/transactions`,
      { externalId },
      call,
    ),
  consume: (externalId: string, call: V1Call) =>
    send<EntryBody, { externalId: string }>(
      customerConsumePost,
      "POST",
      `${customers(externalId)}/consume`,
      { externalId },
      call,
    ),
  grant: (externalId: string, call: V1Call) =>
    send<GrantBody, { externalId: string }>(
      customerGrantsPost,
      "POST",
      `${customers(externalId)}/grants`,
      { externalId },
      call,
    ),
  hold: (externalId: string, call: V1Call) =>
    send<HoldBody, { externalId: string }>(
      customerHoldsPost,
      "POST",
      `${customers(externalId)}/holds`,
      { externalId },
      call,
    ),
};

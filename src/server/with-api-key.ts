import { and, eq, isNotNull } from "drizzle-orm";
import type { z } from "zod";
import { NotFoundError } from "@/credits/errors";
import { CALLER_KEY_RULE, isCallerIdempotencyKey } from "@/credits/idempotency-keys";
import { isStorableText } from "@/credits/schemas";
import { getDb } from "@/db/client";
import { creditAccount, user } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { limitApiKey } from "@/limits/rate-limit";
import { authenticateApiKey } from "@/service-api/api-keys";
import { type ApiScope, hasScope } from "@/service-api/api-scopes";
import { type ApiResponse, runIdempotent } from "@/service-api/run-idempotent";
import type { ScopedHandler } from "./define-route";
import { errorResponse, jsonError } from "./http-errors";
import { jsonResponse } from "./json-response";
import { RequestError, readJsonBody } from "./request";

/** Who is calling: the API key, by id and by name (the name is what the audit log shows). */
export type ApiCaller = { apiKeyId: string; apiKeyName: string; scopes: readonly string[] };

async function authenticate(request: Request, db: Database): Promise<ApiCaller | null> {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) return null;
  const key = await authenticateApiKey(db, match[1]);
  return key ? { apiKeyId: key.id, apiKeyName: key.name, scopes: key.scopes } : null;
}

/**
 * The answer to a key used outside its scopes: 403 `insufficient_scope`, naming the scope the route needs
 * in `requiredScope` so the operator knows which key to make.
 */
export function insufficientScopeResponse(requiredScope: ApiScope): Response {
  return jsonError(
    403,
    "insufficient_scope",
    `This API key does not have the "${requiredScope}" scope that this operation needs.`,
    { requiredScope },
  );
}

/**
 * Service-API routes: a valid API key with the route's scope, then the handler; every failure is one JSON
 * error shape. The scope comes from the route's definition (defineRoute gives it, src/server/define-route.ts)
 * and is checked right after the key, before the rate limit, the body or the Idempotency-Key are looked
 * at: a key without the scope changes nothing, replays nothing and spends none of its rate budget.
 */
export function withApiKey<Params>(
  handler: (input: {
    request: Request;
    db: Database;
    caller: ApiCaller;
    params: Params;
  }) => Promise<Response>,
): ScopedHandler {
  return {
    forScope: (scope, options) => async (request, context) => {
      try {
        const db = await getDb();
        const caller = await authenticate(request, db);
        if (!caller)
          return jsonError(401, "unauthorized", "A valid API key is required: Authorization: Bearer <key>.");
        if (!hasScope(caller.scopes, scope)) return insufficientScopeResponse(scope);
        await limitApiKey(caller.apiKeyId);
        // After the key and its scope: a caller without them learns nothing, not even whether a customer exists.
        const raw = await context.params;
        const params = options?.resolveParams ? await options.resolveParams(db, raw) : raw;
        return await handler({ request, db, caller, params: params as Params });
      } catch (error) {
        return errorResponse(error, { path: new URL(request.url).pathname });
      }
    },
  };
}

/**
 * The Idempotency-Key header every service-API mutation must carry. One rule for every route and for the
 * library (src/credits/idempotency-keys.ts), checked on what the caller sent, before any prefix is added.
 */
export function readIdempotencyKey(request: Request): string {
  const idempotencyKey = request.headers.get("idempotency-key") ?? "";
  if (!isCallerIdempotencyKey(idempotencyKey)) {
    throw new RequestError(
      "idempotency_key_required",
      `Send an Idempotency-Key header (${CALLER_KEY_RULE}).`,
    );
  }
  return idempotencyKey;
}

/**
 * Service-API mutations: a valid API key, an Idempotency-Key header, a strictly validated JSON body, and
 * the operation run at most once per key (see runIdempotent).
 */
export function withApiMutation<Params, Schema extends z.ZodType>(
  schema: Schema,
  operation: (input: {
    tx: DatabaseOrTransaction;
    caller: ApiCaller;
    params: Params;
    body: z.output<Schema>;
    idempotencyKey: string;
  }) => Promise<ApiResponse>,
) {
  return withApiKey<Params>(async ({ request, db, caller, params }) => {
    const idempotencyKey = readIdempotencyKey(request);
    const body = await readJsonBody(request, schema);
    const result = await runIdempotent(
      db,
      {
        apiKeyId: caller.apiKeyId,
        idempotencyKey,
        request: { path: new URL(request.url).pathname, body: body as unknown },
      },
      (tx) => operation({ tx, caller, params, body, idempotencyKey }),
    );
    return jsonResponse(result.body, {
      status: result.status,
      headers: result.replayed ? { "idempotent-replayed": "true" } : {},
    });
  });
}

/**
 * 404 for an account id that does not exist, before anything is written for it: a signed-up user's id, or
 * a customer's account id (`cus_…`, src/credits/upsert-customer.ts), which the /customers/{externalId}/…
 * routes resolve to before they run the same handler. An id no account can have (too long, or text
 * PostgreSQL cannot store, e.g. `%00` in the path) is answered without asking the database. A user's id
 * is looked up first, as before customers existed; the customer look-up runs only when that misses.
 */
export async function assertUserExists(db: DatabaseOrTransaction, userId: string): Promise<void> {
  if (userId.length > 200 || !isStorableText(userId)) throw new NotFoundError("User");
  const [row] = await db.select({ id: user.id }).from(user).where(eq(user.id, userId));
  if (row) return;
  const [customer] = await db
    .select({ id: creditAccount.userId })
    .from(creditAccount)
    .where(and(eq(creditAccount.userId, userId), isNotNull(creditAccount.externalId)));
  if (!customer) throw new NotFoundError("User", { userId });
}

import { z } from "zod";
import { CALLER_KEY_RULE, IDEMPOTENCY_KEY_MAX_LENGTH } from "@/credits/idempotency-keys";
import {
  apiSchemas,
  balanceResponseSchema,
  captureBodySchema,
  captureResponseSchema,
  consumeBodySchema,
  entryResponseSchema,
  errorResponseSchema,
  grantBodySchema,
  grantResponseSchema,
  holdBodySchema,
  holdResponseSchema,
  releaseResponseSchema,
  transactionsResponseSchema,
} from "./schemas";

type Operation = {
  method: "get" | "post";
  path: string;
  summary: string;
  description: string;
  body?: z.ZodType;
  ok: { status: number; schema: z.ZodType };
  errors: number[];
  /**
   * Answers stored with the Idempotency-Key besides the success (the route returns them rather than
   * throwing, so they commit): a retry gets them again with `Idempotent-Replayed: true`.
   */
  replayedErrors?: number[];
};

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input (code `invalid_input`, `malformed_json`, `idempotency_key_required`, ...). Not retryable: the same request fails the same way",
  401: "Missing, unknown or revoked API key",
  402: "Not enough credits (`insufficient_credits`)",
  404: "Unknown user or hold",
  409: "Idempotency-Key reused with a different request, or the hold is no longer open",
  413: "Body too large",
  415: "Body is not application/json",
  429: "Rate limited (per API key): retry after the `Retry-After` header's seconds",
  500: "An unexpected failure on our side (`internal_error`). Not marked retryable: it is not known to pass on a retry",
  503: "The database is busy or unreachable (`database_busy`, `database_unavailable`): retry after the `Retry-After` header's seconds with the same Idempotency-Key",
};

/** Response headers, by name, as the routes set them (src/server/http-errors.ts, src/server/with-api-key.ts). */
const RETRY_AFTER_HEADER = {
  "Retry-After": {
    description: "Seconds to wait before retrying the same request.",
    required: true,
    schema: { type: "integer", minimum: 0 },
  },
};
const REPLAYED_HEADER = {
  "Idempotent-Replayed": {
    description:
      "`true` when this is the stored answer to an earlier request with the same Idempotency-Key (nothing was done again); absent on a first answer.",
    required: false,
    schema: { type: "string", enum: ["true"] },
  },
};

/**
 * Answers every operation can give besides its own: any request can be refused without a valid API key,
 * rate limited, meet a busy database or an unexpected failure; every mutation can lack its
 * Idempotency-Key (400), and its body can be too large (over 16 kB) or not JSON.
 */
function commonErrors(op: Pick<Operation, "method">): number[] {
  return op.method === "post" ? [400, 401, 413, 415, 429, 500, 503] : [401, 429, 500, 503];
}

/** An operation's error statuses, its own and the common ones, each once, in order. */
function errorStatuses(op: Pick<Operation, "method" | "errors">): number[] {
  return [...new Set([...op.errors, ...commonErrors(op)])].sort((a, b) => a - b);
}

const operations: Operation[] = [
  {
    method: "get",
    path: "/users/{userId}/balance",
    summary: "Get a user's balance",
    description:
      "Total credits, credits held by open holds, credits available to spend, and outstanding debt.",
    ok: { status: 200, schema: balanceResponseSchema },
    errors: [401, 404],
  },
  {
    method: "post",
    path: "/users/{userId}/consume",
    summary: "Spend credits",
    description: "Spends credits now, soonest-expiring first. All or nothing.",
    body: consumeBodySchema,
    ok: { status: 200, schema: entryResponseSchema },
    errors: [400, 401, 402, 404, 409],
    replayedErrors: [402],
  },
  {
    method: "post",
    path: "/users/{userId}/grants",
    summary: "Grant credits",
    description: "Adds a lot of credits, optionally expiring. Outstanding debt is repaid from it first.",
    body: grantBodySchema,
    ok: { status: 201, schema: grantResponseSchema },
    errors: [400, 401, 404, 409],
  },
  {
    method: "post",
    path: "/users/{userId}/holds",
    summary: "Reserve credits",
    description: "Reserves credits for work whose cost is known later. Capture or release it before its TTL.",
    body: holdBodySchema,
    ok: { status: 201, schema: holdResponseSchema },
    errors: [400, 401, 402, 404, 409],
    replayedErrors: [402],
  },
  {
    method: "post",
    path: "/holds/{holdId}/capture",
    summary: "Capture a hold",
    description:
      "Spends the actual amount (default: all reserved) and returns the rest, which repays any debt first. Credits of the hold whose lot expired are gone; a shortfall is taken from available credits, or 402 leaves the hold open.",
    body: captureBodySchema,
    ok: { status: 200, schema: captureResponseSchema },
    errors: [400, 401, 402, 404, 409],
    replayedErrors: [402, 409],
  },
  {
    method: "post",
    path: "/holds/{holdId}/release",
    summary: "Release a hold",
    description:
      "Returns every reserved credit that has not expired with its lot; it repays any debt first. The body may be empty or `{}`; any field is refused (400).",
    ok: { status: 200, schema: releaseResponseSchema },
    errors: [400, 401, 404, 409],
  },
  {
    method: "get",
    path: "/users/{userId}/transactions",
    summary: "List a user's ledger entries",
    description: "Newest first. Pass `nextCursor` as `cursor` to get the next page.",
    ok: { status: 200, schema: transactionsResponseSchema },
    errors: [400, 401, 404],
  },
];

const COMPONENTS = "#/components/schemas/";

/** A reference to the schema's entry in `components.schemas`, where every named API schema is emitted. */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const id = apiSchemas.get(schema)?.id;
  if (!id) throw new Error("every service-API schema in the document must be registered in apiSchemas");
  return { $ref: `${COMPONENTS}${id}` };
}

function componentSchemas(): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(apiSchemas, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
    uri: (id) => `${COMPONENTS}${id}`,
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _ignored, $id: _id, ...rest } = schema as Record<string, unknown>;
      return [id, rest];
    }),
  );
}

function pathParameters(path: string) {
  return [...path.matchAll(/\{(\w+)\}/g)].map((match) => ({
    name: match[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
}

/** The OpenAPI 3.1 document of the service API, generated from the same zod schemas the routes validate with. */
export function buildOpenApiDocument(serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters: unknown[] = pathParameters(op.path);
    if (op.method === "post") {
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: true,
        description: `Unique per logical request. A retry with the same key returns the first response. ${CALLER_KEY_RULE}; the same limit on every route.`,
        schema: {
          type: "string",
          minLength: 1,
          maxLength: IDEMPOTENCY_KEY_MAX_LENGTH,
          pattern: "^[A-Za-z0-9_\\-:.]+$",
        },
      });
    }
    if (op.path.endsWith("/transactions")) {
      parameters.push(
        {
          name: "limit",
          in: "query",
          description:
            "Entries per page, in plain decimal digits (`1e2`, `0x10`, `10.0` and ` 10` are refused with 400).",
          schema: { type: "integer", minimum: 1, maximum: 100, default: 20 },
        },
        {
          name: "cursor",
          in: "query",
          description: "The `nextCursor` of the previous page.",
          schema: { type: "string", pattern: "^[0-9]{1,15}$" },
        },
      );
    }
    const replayable = new Set(op.method === "post" ? [op.ok.status, ...(op.replayedErrors ?? [])] : []);
    const responses: Record<string, unknown> = {
      [op.ok.status]: {
        description: "Success",
        ...(replayable.has(op.ok.status) ? { headers: REPLAYED_HEADER } : {}),
        content: { "application/json": { schema: jsonSchema(op.ok.schema) } },
      },
    };
    for (const status of errorStatuses(op)) {
      const headers = {
        ...(status === 429 || status === 503 ? RETRY_AFTER_HEADER : {}),
        ...(replayable.has(status) ? REPLAYED_HEADER : {}),
      };
      responses[status] = {
        description: ERROR_TEXT[status],
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        content: { "application/json": { schema: jsonSchema(errorResponseSchema) } },
      };
    }
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method] = {
      summary: op.summary,
      description: op.description,
      parameters,
      ...(op.body
        ? {
            requestBody: { required: true, content: { "application/json": { schema: jsonSchema(op.body) } } },
          }
        : {}),
      responses,
      security: [{ apiKey: [] }],
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "creditkit service API",
      version: "1.0.0",
      description:
        "Spend, grant and reserve credits from other backends. Authenticate with `Authorization: Bearer <API key>`. " +
        "Every mutation takes an `Idempotency-Key` header. Errors are `{error: {code, message}}`.",
    },
    servers: [{ url: `${serverUrl}/api/v1` }],
    components: {
      schemas: componentSchemas(),
      securitySchemes: { apiKey: { type: "http", scheme: "bearer" } },
    },
    paths,
  };
}

export const openApiOperations = operations.map(({ method, path, summary, description, errors, ok }) => ({
  method,
  path,
  summary,
  description,
  errors: errorStatuses({ method, errors }),
  okStatus: ok.status,
}));

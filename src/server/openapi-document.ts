import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { EXTERNAL_ID_MAX_LENGTH, EXTERNAL_ID_PATTERN, EXTERNAL_ID_RULE } from "@/credits/external-id";
import { CALLER_KEY_RULE, IDEMPOTENCY_KEY_MAX_LENGTH } from "@/credits/idempotency-keys";
import { API_SCOPE_DESCRIPTIONS, API_SCOPES, type ApiScope } from "@/service-api/api-scopes";
import { errorResponseSchema, insufficientScopeResponseSchema } from "@/service-api/schemas";
import type { RouteDefinition, ServiceOperation } from "./define-route";
import { routeMethods } from "./define-route";

/** Where the service API lives; the document's paths are relative to it (its `servers` entry). */
const SERVICE_API_PREFIX = "/api/v1";

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input (code `invalid_input`, `malformed_json`, `idempotency_key_required`, ...). Not retryable: the same request fails the same way",
  401: "Missing, unknown or revoked API key",
  402: "Not enough credits (`insufficient_credits`)",
  403: "The API key lacks the scope this operation needs (`insufficient_scope`; `requiredScope` names it). Nothing was done: make a key with that scope",
  404: "Unknown user, customer (`customer_not_found`) or hold",
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
    schema: { type: "integer" as const, minimum: 0 },
  },
};
const REPLAYED_HEADER = {
  "Idempotent-Replayed": {
    description:
      "`true` when this is the stored answer to an earlier request with the same Idempotency-Key (nothing was done again); absent on a first answer.",
    required: false,
    schema: { type: "string" as const, enum: ["true"] },
  },
};

const idempotencyKeyHeader = z.object({
  "Idempotency-Key": z
    .string()
    .min(1)
    .max(IDEMPOTENCY_KEY_MAX_LENGTH)
    .regex(/^[A-Za-z0-9_\-:.]+$/)
    .meta({
      description: `Unique per logical request. A retry with the same key returns the first response. ${CALLER_KEY_RULE}; the same limit on every route.`,
    }),
});

/**
 * Answers every operation can give besides its own: any request can be refused without a valid API key,
 * rate limited, meet a busy database or an unexpected failure; every mutation can lack its
 * Idempotency-Key (400), and its body can be too large (over 16 kB) or not JSON; every operation that needs
 * a scope can be refused a key without it (403).
 */
function errorStatuses(method: DocumentedMethod, own: number[], scope: ApiScope | undefined): number[] {
  const common = method !== "GET" ? [400, 401, 413, 415, 429, 500, 503] : [401, 429, 500, 503];
  // A route that names a scope refuses keys without it (src/server/with-api-key.ts).
  const scoped = scope ? [403] : [];
  return [...new Set([...own, ...common, ...scoped])].sort((a, b) => a - b);
}

/**
 * Path parameters with a documented rule: a customer's external id (its alphabet and length, and not dots
 * alone), the very pattern the server checks, so a generated client refuses what the server would.
 */
const PATH_PARAMETER_SCHEMAS: Record<string, z.ZodType> = {
  externalId: z
    .string()
    .min(1)
    .max(EXTERNAL_ID_MAX_LENGTH)
    .regex(EXTERNAL_ID_PATTERN)
    .meta({ description: `The customer's id in your system: ${EXTERNAL_ID_RULE}.` }),
};

function pathParameters(path: string) {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
  return names.length > 0
    ? z.object(Object.fromEntries(names.map((name) => [name, PATH_PARAMETER_SCHEMAS[name] ?? z.string()])))
    : undefined;
}

/** The route's entry in the document, as @hono/zod-openapi's route configuration. */
/**
 * The methods the document describes: reads (GET), mutations with an Idempotency-Key (POST, DELETE), and PUT for
 * what is idempotent by nature (a customer by its external id: the same PUT twice leaves the same state).
 */
type DocumentedMethod = "GET" | "POST" | "PUT" | "DELETE";

function operationRoute(
  path: string,
  method: DocumentedMethod,
  op: ServiceOperation,
  scope: ApiScope | undefined,
) {
  const replayable = new Set(
    method === "POST" || method === "DELETE" ? [op.ok.status, ...(op.replayedErrors ?? [])] : [],
  );
  const responses: Record<string, unknown> = {
    [op.ok.status]: {
      description: "Success",
      ...(replayable.has(op.ok.status) ? { headers: REPLAYED_HEADER } : {}),
      content: { "application/json": { schema: op.ok.schema } },
    },
    ...(op.alsoOk
      ? {
          [op.alsoOk.status]: {
            description: op.alsoOk.description,
            content: { "application/json": { schema: op.ok.schema } },
          },
        }
      : {}),
  };
  for (const status of errorStatuses(method, op.errors, scope)) {
    const headers = {
      ...(status === 429 || status === 503 ? RETRY_AFTER_HEADER : {}),
      ...(replayable.has(status) ? REPLAYED_HEADER : {}),
    };
    responses[status] = {
      description: ERROR_TEXT[status] ?? "Error",
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: {
        "application/json": {
          schema: status === 403 ? insufficientScopeResponseSchema : errorResponseSchema,
        },
      },
    };
  }
  const params = pathParameters(path);
  return createRoute({
    method: method.toLowerCase() as Lowercase<DocumentedMethod>,
    path,
    summary: op.summary,
    description: scope ? `${op.description}\n\nRequires the \`${scope}\` scope.` : op.description,
    // The scope as data, for generators and tools, and in the security requirement (OpenAPI 3.1 lets a
    // non-OAuth scheme list the roles an operation needs).
    ...(scope ? { "x-required-scope": scope } : {}),
    request: {
      ...(params ? { params } : {}),
      ...(op.query ? { query: op.query } : {}),
      ...(method === "POST" || method === "DELETE" ? { headers: idempotencyKeyHeader } : {}),
      // A body whose every field is optional (capture: the amount defaults to all reserved) may be left out.
      ...(op.body
        ? {
            body: {
              required: !op.body.safeParse({}).success,
              content: { "application/json": { schema: op.body } },
            },
          }
        : {}),
    },
    responses: responses as Parameters<typeof createRoute>[0]["responses"],
    security: [{ apiKey: scope ? [scope] : [] }],
  });
}

/**
 * The service API's OpenAPI 3.1 document, made from the route definitions (src/routes/): every route under
 * /api/v1 with an `operation`, its schemas the same zod schemas the handlers validate with.
 */
export function buildServiceApiDocument(routes: readonly RouteDefinition[], serverUrl: string) {
  const app = new OpenAPIHono();
  const registry = app.openAPIRegistry;
  registry.registerComponent("securitySchemes", "apiKey", { type: "http", scheme: "bearer" });
  for (const route of routes) {
    if (!route.operation || !route.path.startsWith(`${SERVICE_API_PREFIX}/`)) continue;
    const path = route.path.slice(SERVICE_API_PREFIX.length);
    for (const method of routeMethods(route)) {
      // The service API's operations are reads (GET) and mutations with an Idempotency-Key (the others).
      if (method === "PATCH")
        throw new Error(
          `${method} ${route.path}: the service API's document describes GET, POST, PUT and DELETE`,
        );
      registry.registerPath(operationRoute(path, method, route.operation, route.scope));
    }
  }
  return app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "creditkit service API",
      version: "1.0.0",
      description:
        "Spend, grant and reserve credits from other backends. Authenticate with `Authorization: Bearer <API key>`. " +
        "Every mutation takes an `Idempotency-Key` header. Errors are `{error: {code, message}}`. " +
        `Each key has scopes, chosen when it is made; each operation names the one it needs (\`x-required-scope\`), and a key without it is answered 403 \`insufficient_scope\` with \`requiredScope\`. Scopes: ${API_SCOPES.map((scope) => `\`${scope}\` (${API_SCOPE_DESCRIPTIONS[scope]})`).join(", ")}.`,
    },
    servers: [{ url: `${serverUrl}${SERVICE_API_PREFIX}` }],
  });
}

export type ServiceApiDocument = ReturnType<typeof buildServiceApiDocument>;

/**
 * The document of the app's routes (src/routes/index.ts, loaded when asked: the document's own routes are
 * among them).
 */
export async function serviceApiDocument(serverUrl: string): Promise<ServiceApiDocument> {
  const { routes } = await import("@/routes");
  return buildServiceApiDocument(routes, serverUrl);
}

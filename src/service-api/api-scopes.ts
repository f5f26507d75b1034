import { z } from "zod";

/**
 * What an API key may do. Each service-API route names the one scope it needs in its definition
 * (`scope` in src/server/define-route.ts); a key without it is answered 403 `insufficient_scope` before
 * anything else happens.
 *
 * - `read`:  balances and ledger entries (GET …/balance, GET …/transactions).
 * - `spend`: spend credits now (POST …/consume).
 * - `grant`: add credits (POST …/grants). Grants create credits nobody paid for: a leaked key with this
 *   scope can mint them, so it is not among the defaults of the admin console and the CLI.
 * - `holds`: reserve credits and capture or release the reservation (POST …/holds, …/capture, …/release).
 * - `admin`: endpoint and customer management: webhook endpoints, their deliveries and resends, an
 *   account's low-balance threshold (…/low-balance-threshold), customers by external id.
 */
export const API_SCOPES = ["read", "spend", "grant", "holds", "admin"] as const;

export type ApiScope = (typeof API_SCOPES)[number];

export const apiScopeSchema = z.enum(API_SCOPES);

/**
 * The scopes a new key gets when the operator picks none (admin console's checked boxes, the CLI without
 * `--scopes`): what a backend that meters usage needs (read, spend, reserve). `grant` mints credits and
 * `admin` manages endpoints and customers, so both are chosen deliberately, never by default.
 */
export const DEFAULT_API_SCOPES: readonly ApiScope[] = ["read", "spend", "holds"];

/**
 * Every scope: what keys made before scopes existed keep (the migration api_key_scopes fills them in), and
 * what createApiKey gives when its caller names none (tests and seeds; the operator surfaces always pass
 * the operator's choice).
 */
export const ALL_API_SCOPES: readonly ApiScope[] = API_SCOPES;

/** One line per scope, for the docs, the admin console's tooltips and `credits api-key create --help`. */
export const API_SCOPE_DESCRIPTIONS: Record<ApiScope, string> = {
  read: "read balances and ledger entries",
  spend: "spend credits (consume)",
  grant: "grant credits",
  holds: "create, capture and release holds",
  admin: "manage endpoints and customers",
};

/**
 * A key's scopes as chosen, in the canonical order of API_SCOPES and without repeats. An empty choice is
 * refused: a key that can do nothing is a mistake, not a configuration.
 */
export const apiScopesSchema = z
  .array(apiScopeSchema)
  .min(1, "choose at least one scope")
  .transform((scopes) => API_SCOPES.filter((scope) => scopes.includes(scope)));

/**
 * Parses the CLI's `--scopes read,spend` (commas, spaces ignored). Throws a message naming the unknown
 * scope and the valid ones.
 */
export function parseScopeList(text: string): ApiScope[] {
  const names = text
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  for (const name of names) {
    if (!(API_SCOPES as readonly string[]).includes(name))
      throw new Error(`unknown scope "${name}"; scopes are ${API_SCOPES.join(", ")}`);
  }
  const parsed = apiScopesSchema.safeParse(names);
  if (!parsed.success) throw new Error(`choose at least one scope of ${API_SCOPES.join(", ")}`);
  return parsed.data;
}

/** Whether a key with `granted` scopes may do what `required` names. */
export function hasScope(granted: readonly string[], required: ApiScope): boolean {
  return granted.includes(required);
}

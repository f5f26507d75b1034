/**
 * The state that must exist once per process, kept in one place.
 *
 * Why a registry and not module-level variables: Next.js compiles the server code at build time, but it
 * instantiates a module once per entry layer (src/instrumentation.ts, the route handlers and the server
 * components each load their own copy: a module's random id differs between instrumentation and a route
 * in this project's production build), and `next dev` loads modules again after every change. What must be
 * one per process would otherwise be one per copy:
 * - `database`: the connection (the embedded database allows one opener per folder; one pool per process);
 * - `dataDirLocks`: the embedded database's folder locks this process holds;
 * - `auth`: Better Auth's instance on that connection; `mailer`: one SMTP transport and its pool;
 * - `rateLimiters`: one set of limiters, so every copy counts against the same limits;
 * - `apiKeyCache`: verified API keys, so a revocation through any copy clears the one cache;
 * - `clientAddressFromSocket`: set by the production server when it stamps the client's address on
 *   every request (src/lib/client-address.ts), so the app may believe that header;
 * - `httpEntry`: what the production server (scripts/server.mjs, plain JavaScript, no TypeScript loader)
 *   dispatches /api requests to, published by src/instrumentation.ts from Next.js's compiled bundle.
 *
 * The registry is one object on globalThis under a Symbol.for key: every copy of this module finds the same
 * object, and scripts/server.mjs reads `httpEntry` by the same key.
 */
export const PROCESS_REGISTRY_KEY = Symbol.for("creditkit.process-registry");

// biome-ignore lint/suspicious/noExplicitAny: each slot is typed where it is used (see processSlot).
type Registry = Record<string, any>;

const store = globalThis as { [PROCESS_REGISTRY_KEY]?: Registry };

function registry(): Registry {
  store[PROCESS_REGISTRY_KEY] ??= {};
  return store[PROCESS_REGISTRY_KEY];
}

/** The process's one value in `slot`, created by `create` the first time any copy of a module asks. */
export function processSlot<T>(slot: string, create: () => T): T {
  const values = registry();
  if (!(slot in values)) values[slot] = create();
  return values[slot] as T;
}

/** Replaces the process's value in `slot` (the production server's entry, tests resetting state). */
export function setProcessSlot<T>(slot: string, value: T): void {
  registry()[slot] = value;
}

import { getRequestListener, type HttpBindings } from "@hono/node-server";
import { getServerEnv, listenHosts } from "@/config/env";
import { createClientAddressStamp } from "@/lib/client-address";
import { setProcessSlot } from "@/lib/process-registry";
import { routes } from "@/routes";
import { createNodeApiApp } from "./api-app";

type NodeHandler = (incoming: HttpBindings["incoming"], outgoing: HttpBindings["outgoing"]) => void;

/** What the production server (scripts/server.mjs) needs from the compiled app. */
export type ProductionEntry = {
  /** Answers one /api request with the app's routes (src/routes/) on Hono's Node.js adapter. */
  handleApi: NodeHandler;
  /**
   * Writes the client's address (the socket's peer, or through the proxies TRUST_PROXY trusts) into a header
   * of every request, replacing any the client sent, for the app's limits (src/lib/client-address.ts).
   */
  stampClientAddress: (incoming: HttpBindings["incoming"]) => void;
  /** Where to listen: HOST, or the loopback addresses when nothing is configured (src/config/env.ts). */
  hosts: (string | undefined)[];
  port: number;
  hostname: string | undefined;
};

/** The process registry's slot scripts/server.mjs reads (by the same name): a function making the entry. */
export const PRODUCTION_ENTRY_SLOT = "httpEntry";

/**
 * Publishes, in the process registry (src/lib/process-registry.ts), the function that makes the production
 * server's entry. Called by src/instrumentation.ts once the configuration is checked and the database is
 * open. Only scripts/server.mjs calls it: making the entry tells the app that the client-address header is
 * stamped by the server, which is true only there (under `next start` a client could send it).
 */
export function publishProductionEntry(): void {
  setProcessSlot(PRODUCTION_ENTRY_SLOT, createProductionEntry);
}

function createProductionEntry(): ProductionEntry {
  const env = getServerEnv();
  const entry: ProductionEntry = {
    handleApi: getRequestListener(createNodeApiApp(routes).fetch, {
      hostname: env.HOST,
      // Next.js relies on the platform's Request and Response; keep them.
      overrideGlobalObjects: false,
    }) as NodeHandler,
    stampClientAddress: createClientAddressStamp(env.TRUST_PROXY),
    hosts: listenHosts(env),
    port: env.PORT,
    hostname: env.HOST,
  };
  return entry;
}

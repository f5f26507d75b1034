import type { HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { Hono } from "hono";
import * as docs from "@/app/api/v1/docs/route";
import * as captureHold from "@/app/api/v1/holds/[holdId]/capture/route";
import * as releaseHold from "@/app/api/v1/holds/[holdId]/release/route";
import * as openApiJson from "@/app/api/v1/openapi.json/route";
import * as balance from "@/app/api/v1/users/[userId]/balance/route";
import * as consume from "@/app/api/v1/users/[userId]/consume/route";
import * as grants from "@/app/api/v1/users/[userId]/grants/route";
import * as holds from "@/app/api/v1/users/[userId]/holds/route";
import * as transactions from "@/app/api/v1/users/[userId]/transactions/route";
import * as stripeWebhook from "@/app/api/webhooks/stripe/route";
import { getLocalSecrets } from "@/config/local-secrets";
import { CREDIT_PACKAGES } from "@/credits/packages";
import { getConnection } from "@/db/client";
import { logger } from "@/lib/logger";
import { errorResponse } from "./http-errors";
import { dispatcherWritesJsonReplies, JsonReply } from "./json-response";

/**
 * The machine-to-machine routes (the service API and Stripe's webhook) served without Next.js's request
 * pipeline. On this project's reference machine Next.js spends ~0.7 ms of CPU on a request before any of
 * our code runs, more than a whole spend costs in PostgreSQL; these routes need no pages, sessions or
 * locales, so `npm start` answers them here and hands everything else to Next.js (see scripts/server.mjs).
 *
 * The handlers are the route files themselves, so `next dev`, `next start` and any other host serve
 * exactly the same code at the same paths; this table only decides who dispatches to them.
 */
export const SERVICE_PATH_PREFIXES = ["/api/v1/", "/api/webhooks/stripe"] as const;

export function isServicePath(url: string | undefined): boolean {
  return !!url && SERVICE_PATH_PREFIXES.some((prefix) => url.startsWith(prefix));
}

/**
 * What the routes need before the server accepts its first request: local secrets and a migrated
 * database. Next.js starts src/instrumentation.ts without waiting for it, so `npm start` waits here. The
 * connection is shared with Next.js's copy (src/db/client.ts), so the migrations run once. A database
 * that is down at start is not fatal: requests answer 503 and the next one tries to connect again.
 */
export async function prepareServiceRoutes(): Promise<void> {
  // The catalog is validated when its module loads (a price Stripe would refuse throws), so importing it
  // here stops `npm start` before it listens.
  logger.debug({ packages: CREDIT_PACKAGES.length }, "credit packages checked");
  getLocalSecrets();
  try {
    await getConnection();
  } catch (error) {
    logger.error({ err: error }, "database unreachable at start; requests answer 503 until it is back");
  }
}

type RouteHandler<Params> = (
  request: Request,
  context: { params: Promise<Params> },
) => Response | Promise<Response>;

type NodeHandler = (incoming: HttpBindings["incoming"], outgoing: HttpBindings["outgoing"]) => unknown;

/**
 * @param fallThrough serves what this table does not know (another method, an unknown path) the way
 *   Next.js would, so the two servers never answer one request differently.
 */
export function createServiceApp(fallThrough: NodeHandler): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  dispatcherWritesJsonReplies();
  const route =
    <Params>(handler: RouteHandler<Params>) =>
    async (c: { req: { raw: Request; param: () => unknown }; env: HttpBindings }) => {
      const response = await handler(c.req.raw, { params: Promise.resolve(c.req.param() as Params) });
      if (!(response instanceof JsonReply)) return response;
      const headers: Record<string, string> = Object.fromEntries(response.headers);
      headers["content-length"] = String(Buffer.byteLength(response.jsonText));
      c.env.outgoing.writeHead(response.status, headers);
      c.env.outgoing.end(response.jsonText);
      return RESPONSE_ALREADY_SENT;
    };

  app.get("/api/v1/openapi.json", route(openApiJson.GET));
  app.get("/api/v1/docs", route(docs.GET));
  app.get("/api/v1/users/:userId/balance", route(balance.GET));
  app.get("/api/v1/users/:userId/transactions", route(transactions.GET));
  app.post("/api/v1/users/:userId/consume", route(consume.POST));
  app.post("/api/v1/users/:userId/grants", route(grants.POST));
  app.post("/api/v1/users/:userId/holds", route(holds.POST));
  app.post("/api/v1/holds/:holdId/capture", route(captureHold.POST));
  app.post("/api/v1/holds/:holdId/release", route(releaseHold.POST));
  app.post("/api/webhooks/stripe", route(stripeWebhook.POST));

  // The route wrappers answer their own failures; anything that escapes them still gets the API's JSON
  // error shape (and a log line), never a bare text 500.
  app.onError((error, c) => {
    const response = errorResponse(error, { path: new URL(c.req.url).pathname });
    return response instanceof JsonReply ? response.toResponse() : response;
  });
  app.notFound((c) => {
    fallThrough(c.env.incoming, c.env.outgoing);
    return RESPONSE_ALREADY_SENT;
  });
  return app;
}

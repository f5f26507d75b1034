import http from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { routes } from "../../src/routes";
import { createNodeApiApp } from "../../src/server/api-app";

export type ApiServer = { origin: string; close: () => Promise<void> };

/**
 * The app's /api routes served over real HTTP on a free local port, through the same dispatch `npm start`
 * uses for /api (scripts/server.mjs: Hono's Node.js adapter over src/server/api-app.ts), against the
 * database the test connected with useDatabaseConnection. Anything outside /api answers 404.
 */
export async function serveApi(): Promise<ApiServer> {
  const handle = getRequestListener(createNodeApiApp(routes).fetch, { overrideGlobalObjects: false });
  const server = http.createServer((incoming, outgoing) => {
    if (incoming.url?.startsWith("/api/")) handle(incoming, outgoing);
    else outgoing.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// The production server behind `npm start`: one Node.js HTTP server in which Next.js serves the pages,
// the browser's API routes and assets, and the machine-to-machine routes (the service API under
// /api/v1/ and Stripe's webhook) are answered without Next.js's request pipeline, which costs more CPU
// per request than the spend behind it (measured in BENCHMARKS.md, scenario 2). Both run the same
// route files; src/server/service-app.ts lists the paths.
//
// Loaded by scripts/start.mjs, which makes a production build first when needed and sets NODE_ENV
// before Next.js is imported.
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { getRequestListener } from "@hono/node-server";
import next from "next";

const root = path.resolve(import.meta.dirname, "..");
const port = Number(process.env.PORT || 3000);
// HOST narrows the listening address (e.g. 127.0.0.1); by default every interface, like `next start`.
const hostname = process.env.HOST || undefined;

const nextApp = next({ dev: false, dir: root, port, hostname });
const handleWithNext = nextApp.getRequestHandler();
// Loads the build; src/instrumentation.ts (local secrets, migrations, jobs) starts from here, and Next.js
// holds its own requests until it is done. The service routes wait for the same below.
await nextApp.prepare();

// The route files are TypeScript, compiled by tsx as they load (as `npm run credits` does). They are a
// second copy of those modules beside Next.js's bundle; what must be one per process (the database
// connection, the API-key cache) is kept on globalThis (src/db/client.ts, src/service-api/api-keys.ts).
await import("tsx");
const requireTs = createRequire(import.meta.url);
const { createServiceApp, isServicePath, prepareServiceRoutes } = requireTs("../src/server/service-app.ts");
// The client's address, from the socket and the proxies TRUST_PROXY trusts, written into a header of every
// request (replacing any the client sent) for the app's limits: src/server/client-address.ts.
const { createClientAddressStamp } = requireTs("../src/server/client-address.ts");
const stampClientAddress = createClientAddressStamp(process.env.TRUST_PROXY);
await prepareServiceRoutes();
const serviceApp = createServiceApp((incoming, outgoing) => handleWithNext(incoming, outgoing));
const handleService = getRequestListener(serviceApp.fetch, {
  hostname,
  // Next.js relies on the platform's Request and Response; keep them.
  overrideGlobalObjects: false,
});

const server = http.createServer((incoming, outgoing) => {
  stampClientAddress(incoming);
  if (isServicePath(incoming.url)) handleService(incoming, outgoing);
  else handleWithNext(incoming, outgoing);
});
// Longer than the usual load balancer idle timeout, so a proxy never reuses a socket this side just closed.
server.keepAliveTimeout = 65_000;

// A server that cannot listen (port taken, no permission) must fail loudly, not linger.
const failToListen = (error) => {
  console.error(`creditkit: cannot listen on ${hostname ?? "*"}:${port}: ${error.message}`);
  process.exit(1);
};
server.once("error", failToListen);
server.listen(port, hostname, () => {
  server.off("error", failToListen);
  server.on("error", (error) => console.error("creditkit: server error", error));
  const shown = hostname && hostname !== "0.0.0.0" ? hostname : "localhost";
  console.log(`creditkit: listening on http://${shown}:${port}`);
});

// Stop accepting connections, let in-flight requests finish (at most 10 s), then exit; the process
// manager's SIGKILL is the backstop.
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    const exitCode = signal === "SIGINT" ? 130 : 143;
    setTimeout(() => process.exit(exitCode), 10_000).unref();
    server.close(() => {
      nextApp
        .close()
        .catch((error) => console.error(error))
        .finally(() => process.exit(exitCode));
    });
    server.closeIdleConnections();
  });
}

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
const require = createRequire(import.meta.url);
// The src/ modules are TypeScript, compiled by tsx as they load (as `npm run credits` does). They are a
// second copy of those modules beside Next.js's bundle; what must be one per process (the database
// connection, the embedded database's lock, the API-key cache) is kept on globalThis (src/db/client.ts,
// src/db/data-dir-lock.ts, src/service-api/api-keys.ts).
await import("tsx");
// The same .env files `next start` reads (already loaded when started by scripts/start.mjs).
require("../src/config/load-project-env.ts").loadProjectEnv(root);

// Nothing is served until the configuration is valid and the database is open, locked and migrated: a
// server that cannot work says why and exits non-zero instead of answering 500 to every request.
await require("../src/config/prepare-server.ts").prepareServerOrExit();
const { getServerEnv, listenHosts } = require("../src/config/env.ts");
const port = getServerEnv().PORT;
// HOST when set; with nothing configured (the payment sandbox nobody asked for) the loopback addresses
// only, so no other machine can buy credits with the test card; otherwise every interface, like `next start`.
const hosts = listenHosts();
const hostname = getServerEnv().HOST;
// This server binds to `hosts` itself: src/instrumentation.ts need not refuse the sandbox for Next.js's
// default of every interface (src/config/env.ts, nextListenProblems()).
process.env[require("../src/config/env.ts").LISTEN_CHECKED_VARIABLE] = "1";
const nextApp = next({ dev: false, dir: root, port, hostname });
const handleWithNext = nextApp.getRequestHandler();
// Loads the build; src/instrumentation.ts finds the configuration checked and the database open, and
// starts the scheduled jobs. Next.js holds its own requests until it is done; the service routes wait for
// the same below.
await nextApp.prepare();

const { createServiceApp, isServicePath, prepareServiceRoutes } = require("../src/server/service-app.ts");
// The client's address, from the socket and the proxies TRUST_PROXY trusts, written into a header of every
// request (replacing any the client sent) for the app's limits: src/server/client-address.ts.
const { createClientAddressStamp } = require("../src/server/client-address.ts");
const stampClientAddress = createClientAddressStamp(getServerEnv().TRUST_PROXY);
await prepareServiceRoutes();
const serviceApp = createServiceApp((incoming, outgoing) => handleWithNext(incoming, outgoing));
const handleService = getRequestListener(serviceApp.fetch, {
  hostname,
  // Next.js relies on the platform's Request and Response; keep them.
  overrideGlobalObjects: false,
});

const handleRequest = (incoming, outgoing) => {
  stampClientAddress(incoming);
  if (isServicePath(incoming.url)) handleService(incoming, outgoing);
  else handleWithNext(incoming, outgoing);
};

// A server that cannot listen (port taken, no permission) must fail loudly, not linger.
function listen(host) {
  const server = http.createServer(handleRequest);
  // Longer than the usual load balancer idle timeout, so a proxy never reuses a socket this side just closed.
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      server.on("error", (error) => console.error("creditkit: server error", error));
      resolve(server);
    });
  });
}

const servers = [];
for (const host of hosts) {
  try {
    servers.push(await listen(host));
  } catch (error) {
    // A machine without IPv6 has no ::1; the IPv4 loopback is enough there.
    if (host === "::1" && servers.length > 0 && error.code === "EADDRNOTAVAIL") continue;
    console.error(`creditkit: cannot listen on ${host ?? "*"}:${port}: ${error.message}`);
    process.exit(1);
  }
}
const shown = hostname && hostname !== "0.0.0.0" && hostname !== "::" ? hostname : "localhost";
const url = `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}`;
const onlyHere = !hostname && hosts[0] ? " (this machine only; set HOST to listen on other addresses)" : "";
// The one line that says the server is ready, written only once it listens.
console.log(`creditkit: ready, listening on ${url}${onlyHere}`);

// Stop accepting connections, let in-flight requests finish (at most 10 s), then exit; the process
// manager's SIGKILL is the backstop.
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    const exitCode = signal === "SIGINT" ? 130 : 143;
    setTimeout(() => process.exit(exitCode), 10_000).unref();
    Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))).then(() => {
      nextApp
        .close()
        .catch((error) => console.error(error))
        .finally(() => process.exit(exitCode));
    });
    for (const server of servers) server.closeIdleConnections();
  });
}

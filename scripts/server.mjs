// The production server behind `npm start`: one Node.js HTTP server in which Next.js serves the pages and
// assets, and every /api request is answered by the app's routes (src/routes/, one Hono application)
// directly, without Next.js's request pipeline, which costs more CPU per request than the spend behind it
// (BENCHMARKS.md, scenario 2). Both come from the one production build: this file is plain JavaScript and
// loads no TypeScript; the routes are the ones Next.js compiled, handed over by src/instrumentation.ts
// through the process registry (src/lib/process-registry.ts, src/server/production-entry.ts).
//
// Loaded by scripts/start.mjs, which makes a production build first when needed and sets NODE_ENV
// before Next.js is imported.
import http from "node:http";
import path from "node:path";
import nextEnv from "@next/env";
import next from "next";

const root = path.resolve(import.meta.dirname, "..");
// The same .env files `next start` reads (src/config/load-project-env.ts does the same for the app).
nextEnv.loadEnvConfig(root, false, { info: () => {}, error: (...args) => console.error(...args) });

// This server binds where the app says (HOST, or this machine only when nothing is configured), so the
// check that refuses Next.js's default of every interface need not run (src/config/env.ts,
// LISTEN_CHECKED_VARIABLE).
process.env.CREDITKIT_LISTEN_CHECKED = "1";
const nextApp = next({
  dev: false,
  dir: root,
  port: Number(process.env.PORT) || 3000,
  hostname: process.env.HOST || undefined,
});
const handleWithNext = nextApp.getRequestHandler();
// Loads the build and starts src/instrumentation.ts, which checks the configuration and opens, locks and
// migrates the database (a server that cannot work says why and exits non-zero), starts the scheduled
// jobs, and last publishes the production entry. Next.js does not wait for all of it, so nothing is served
// here until the entry is there.
await nextApp.prepare();
const createEntry = await publishedEntry();

async function publishedEntry() {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const entry = globalThis[Symbol.for("creditkit.process-registry")]?.httpEntry;
    if (typeof entry === "function") return entry;
    if (Date.now() > deadline) {
      console.error(
        "creditkit: the app did not finish starting within 10 minutes (src/instrumentation.ts published no server entry); see the log above.",
      );
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const { handleApi, stampClientAddress, hosts, port, hostname } = createEntry();

const handleRequest = (incoming, outgoing) => {
  stampClientAddress(incoming);
  if (incoming.url?.startsWith("/api/")) handleApi(incoming, outgoing);
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

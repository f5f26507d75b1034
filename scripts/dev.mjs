#!/usr/bin/env node
// `npm run dev`: the development server (`next dev`) on PORT, read like every other setting from the
// environment or the .env files (`next dev` alone takes its port only from -p or the environment, so a
// PORT in .env.local would move the app's URL but not the server). Extra arguments go to `next dev`.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
process.chdir(root);
const environment = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };
process.env.NODE_ENV = "development";

// The configuration modules are TypeScript, compiled by tsx as they load (as in scripts/start.mjs).
await import("tsx");
const require = createRequire(import.meta.url);
require("../src/config/load-project-env.ts").loadProjectEnv(root);
const {
  serverConfigurationProblems,
  ConfigurationError,
  getServerEnv,
  isLoopbackHost,
  listenHosts,
  LISTEN_CHECKED_VARIABLE,
} = require("../src/config/env.ts");
const problems = serverConfigurationProblems();
if (problems.length > 0) {
  const { startupFailureMessage } = require("../src/config/prepare-server.ts");
  console.error(startupFailureMessage(new ConfigurationError(problems)));
  process.exit(1);
}

// Next.js reads the .env files itself (and reloads them on change); only the port is handed over.
const port = String(getServerEnv().PORT);
// HOST, or this machine only while the payment sandbox runs unasked (src/config/env.ts, listenHosts()).
// `next dev` listens on one address: the IPv4 loopback, which browsers reach as localhost too.
const [host] = listenHosts();
const hostArgs = host ? ["--hostname", host] : [];
// Arguments after `--` go to `next dev`; one that picks the address (`-H 0.0.0.0`) overrides hostArgs, so
// the address is then not this script's choice and the app checks it as under `next dev` alone.
const extraArgs = process.argv.slice(2);
const pickedAddresses = extraArgs.flatMap((arg, i) => {
  const match = /^(?:-H|--hostname)(?:=(.*))?$/.exec(arg);
  if (!match) return [];
  return [match[1] ?? extraArgs[i + 1] ?? ""];
});
const checked = pickedAddresses.every((address) => isLoopbackHost(address));
const child = spawn("npx", ["next", "dev", "--port", port, ...hostArgs, ...extraArgs], {
  stdio: "inherit",
  env: { ...environment, PORT: port, ...(checked ? { [LISTEN_CHECKED_VARIABLE]: "1" } : {}) },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

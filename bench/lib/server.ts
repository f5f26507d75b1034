import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export type AppServer = {
  url: string;
  port: number;
  logFile: string;
  /** The server's process group (scripts/start.mjs and anything it forked), for CPU accounting. */
  processGroup: number | null;
  stop: () => Promise<void>;
};

/** Newest mtime under the inputs scripts/start.mjs watches: a build older than this serves stale code. */
function newestSourceTime(appDir: string): number {
  let newest = 0;
  const visit = (target: string) => {
    if (!fs.existsSync(target)) return;
    const stat = fs.statSync(target);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(target)) visit(path.join(target, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const target of ["src", "messages", "public", "package-lock.json", "next.config.ts"])
    visit(path.join(appDir, target));
  return newest;
}

/**
 * Builds the production app when it has never been built (or when asked to). An existing build is used
 * as it is, with a warning when the sources are newer: rebuilding in a working tree other people are
 * building in would pull .next out from under them.
 */
export function ensureBuild(appDir: string, rebuild: boolean, log: (line: string) => void): void {
  const buildId = path.join(appDir, ".next", "BUILD_ID");
  if (fs.existsSync(buildId) && !rebuild) {
    if (fs.statSync(buildId).mtimeMs < newestSourceTime(appDir))
      log(`warning: ${buildId} is older than the sources; set BENCH_REBUILD=1 to rebuild first`);
    return;
  }
  log(`building the app in ${appDir} (next build)...`);
  const started = Date.now();
  const build = spawnSync("npx", ["next", "build"], {
    cwd: appDir,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
  });
  if (build.status !== 0) throw new Error(`next build failed with status ${build.status}`);
  log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * `npm start` (scripts/start.mjs) on a free port, in a process group of its own so stopping it stops the
 * server under it. Ready when a cheap route answers (migrations run in instrumentation before that).
 */
export async function startAppServer(options: {
  appDir: string;
  env: Record<string, string>;
  logFile: string;
}): Promise<AppServer> {
  const port = await freePort();
  const out = fs.openSync(options.logFile, "a");
  const child = spawn(process.execPath, [path.join(options.appDir, "scripts", "start.mjs")], {
    cwd: options.appDir,
    detached: true,
    stdio: ["ignore", out, out],
    env: {
      ...process.env,
      ...options.env,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      PORT: String(port),
      HOST: "127.0.0.1",
      // ensureBuild decided about the build already.
      SKIP_BUILD: "1",
    },
  });
  fs.closeSync(out);
  // Last resort if the bench dies without cleaning up: never leave a server behind.
  const killOnExit = () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
  };
  process.once("exit", killOnExit);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const done = exited(child);
    const timeout = sleep(5000).then(() => "timeout" as const);
    if ((await Promise.race([done, timeout])) === "timeout") {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
      await done;
    }
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`npm start exited with ${child.exitCode}; see ${options.logFile}`);
    try {
      const response = await fetch(`${url}/api/credits/packages`);
      await response.arrayBuffer();
      if (response.status === 200)
        return { url, port, logFile: options.logFile, processGroup: child.pid ?? null, stop };
    } catch {}
    await sleep(250);
  }
  await stop();
  throw new Error(`npm start did not answer within 60 s; see ${options.logFile}`);
}

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LOG_DIR, REPO_ROOT } from "./paths";
import { freePort } from "./ports";

const START_SCRIPT = path.join(REPO_ROOT, "scripts", "start.mjs");

export type ServerOptions = {
  /** Names the log file: test-results/faults/<name>.log (appended to by every start). */
  name: string;
  databaseUrl: string;
  /** Shared by restarts of the same server, like a real deployment's data folder. */
  dataDir: string;
  env?: Record<string, string>;
  /** How long the server may take to apply migrations and answer. */
  readyTimeoutMs?: number;
};

export type RunningServer = {
  url: string;
  pid: number;
  logFile: string;
  /** What this server (not earlier starts sharing the log file) has written so far. */
  output: () => string;
  /** Signals the whole process group (the server and anything it forked) and waits for the exit. */
  kill: (signal?: NodeJS.Signals) => Promise<void>;
};

const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

// If the test process itself dies, the servers it started must not outlive it.
process.once("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
});

/**
 * A throwaway DATA_DIR: local secrets and anything else the server writes stay out of the checkout.
 * Made on first use, so a skipped suite leaves nothing behind.
 */
export function makeDataDir(): { readonly dataDir: string; remove: () => void } {
  let dir: string | undefined;
  return {
    get dataDir() {
      dir ??= fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-faults-"));
      return dir;
    },
    remove: () => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `npm start` (scripts/start.mjs) of the built app as its own process group, so SIGKILL takes all of it down at once the way
 * a crashed container would. Output goes to a log file under test-results/faults/.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const port = await freePort();
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${options.name}.log`);
  fs.appendFileSync(logFile, `\n--- ${new Date().toISOString()} npm start on port ${port}\n`);
  const logOffset = fs.statSync(logFile).size;
  const log = fs.openSync(logFile, "a");
  const child = spawn(process.execPath, [START_SCRIPT], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", log, log],
    // A minimal environment: nothing from the developer's shell (DATABASE_URL, STRIPE_*) leaks in.
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? os.tmpdir(),
      TMPDIR: os.tmpdir(),
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      PORT: String(port),
      HOST: "127.0.0.1",
      // global-setup built the app; never rebuild under a running test.
      SKIP_BUILD: "1",
      DATABASE_URL: options.databaseUrl,
      DATA_DIR: options.dataDir,
      BETTER_AUTH_SECRET: randomBytes(32).toString("hex"),
      BETTER_AUTH_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: "warn",
      // CREDITKIT_JOBS stays unset: pg-boss runs as in production and takes its share of every fault.
      ...options.env,
    },
  });
  fs.closeSync(log);
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  exited.then(() => running.delete(child));

  const url = `http://127.0.0.1:${port}`;
  const server: RunningServer = {
    url,
    pid: child.pid ?? -1,
    logFile,
    output: () => fs.readFileSync(logFile).subarray(logOffset).toString("utf8"),
    kill: async (signal = "SIGKILL") => {
      killGroup(child, signal);
      await withTimeout(exited, 15_000, `server ${child.pid} did not exit after ${signal}`);
    },
  };

  try {
    await waitUntilReady(url, exited, options.readyTimeoutMs ?? 90_000, logFile);
  } catch (error) {
    await server.kill("SIGKILL").catch(() => {});
    throw error;
  }
  return server;
}

/**
 * Ready means migrated and answering: a service-API read without a key gets 401 only after the route has
 * opened the database (getDb) — the instrumentation hook applies the migrations before that.
 */
async function waitUntilReady(url: string, exited: Promise<void>, timeoutMs: number, logFile: string) {
  let gone = false;
  exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the server exited before it was ready; see ${logFile}\n${tail(logFile)}`);
    try {
      const response = await fetch(`${url}/api/v1/users/readiness-probe/balance`, {
        signal: AbortSignal.timeout(5_000),
      });
      await response.body?.cancel();
      if (response.status === 401) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(
    `the server was not ready within ${timeoutMs} ms (${last}); see ${logFile}\n${tail(logFile)}`,
  );
}

export function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

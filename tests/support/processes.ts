import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { closedPort } from "./net";

/** Vitest and Playwright both run from the repository root (tests/support/paths.ts relies on it too). */
export const REPO_ROOT = process.cwd();
export const CLI = path.join(REPO_ROOT, "scripts", "credits.mjs");
export const START = path.join(REPO_ROOT, "scripts", "start.mjs");

export type Finished = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/**
 * A minimal environment for a child process: nothing from the developer's shell (DATABASE_URL,
 * STRIPE_*, PORT...) leaks in, and no NODE_ENV=test (which would stop the .env.local files from loading).
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? os.tmpdir(),
    TMPDIR: os.tmpdir(),
    NEXT_TELEMETRY_DISABLED: "1",
    LOG_LEVEL: "warn",
    // Set empty, these count as unset and are not filled in from a developer's .env.local either.
    DATABASE_URL: "",
    BETTER_AUTH_URL: "",
    PAYMENT_PROVIDER: "",
    STRIPE_SECRET_KEY: "",
    STRIPE_WEBHOOK_SECRET: "",
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "",
    STRIPE_API_BASE: "",
    ...extra,
  };
  // A variable given as undefined is left out altogether, so a .env file may set it.
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

/** Runs a command to its end (killed after `timeoutMs`) and returns its exit and output. */
export function runProcess(
  command: string,
  args: string[],
  options: { env: Record<string, string>; cwd?: string; timeoutMs?: number },
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env as NodeJS.ProcessEnv,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, options.timeoutMs ?? 90_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `node scripts/credits.mjs ...args`, as `npm run credits -- ...args` runs it (compiled). */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<Finished> {
  return runProcess(process.execPath, [CLI, ...args], { env: cleanEnv(env), ...options });
}

/**
 * `npm start` (scripts/start.mjs) with SKIP_BUILD=1, run until it exits. The failures tested with it
 * happen before Next.js loads the build, so no build is needed; a server that did start is killed at
 * `timeoutMs` (and the test sees it did not exit by itself).
 */
export async function runStart(env: Record<string, string>, timeoutMs = 90_000): Promise<Finished> {
  const port = String(await closedPort());
  return runProcess(process.execPath, [START], {
    env: cleanEnv({ SKIP_BUILD: "1", HOST: "127.0.0.1", PORT: port, ...env }),
    timeoutMs,
  });
}

export type ServerProcess = {
  url: string;
  pid: number;
  output: () => string;
  /** SIGTERM to the server's process group; resolves when it has exited. */
  stop: () => Promise<void>;
};

/**
 * `npm start` (scripts/start.mjs under `root`, SKIP_BUILD=1: the build must exist) left running until
 * `url` answers /api/credits/packages. `port` is where it is expected to listen, whatever told it so.
 */
export async function startServerProcess(options: {
  env: Record<string, string | undefined>;
  port: number;
  root?: string;
  timeoutMs?: number;
}): Promise<ServerProcess> {
  const root = options.root ?? REPO_ROOT;
  const child = spawn(process.execPath, [path.join(root, "scripts", "start.mjs")], {
    cwd: root,
    env: cleanEnv({ SKIP_BUILD: "1", HOST: "127.0.0.1", ...options.env }) as NodeJS.ProcessEnv,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (chunk: Buffer) => {
    log += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    log += chunk.toString("utf8");
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const url = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    if (!gone && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
    }
    await exited;
  };
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the server exited before it was ready:\n${log}`);
    try {
      const response = await fetch(`${url}/api/credits/packages`, { signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      if (response.status === 200) return { url, pid: child.pid ?? -1, output: () => log, stop };
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`the server did not answer at ${url} in time:\n${log}`);
}

import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { closedPort } from "./net";

export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
export const TSX = path.join(REPO_ROOT, "node_modules", ".bin", "tsx");
export const CLI = path.join(REPO_ROOT, "scripts", "credits.ts");
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

/** `npx tsx scripts/credits.ts ...args`, as `npm run credits -- ...args` runs it. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<Finished> {
  return runProcess(TSX, [CLI, ...args], { env: cleanEnv(env), ...options });
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

import { loadEnvConfig } from "@next/env";

/**
 * Loads `.env` files into process.env the way Next.js does for `next dev` and `next start`, with Next's
 * own loader, so every entry point (npm start, the dev server, `npm run credits`) sees one configuration.
 * Precedence, first wins: the process environment, `.env.$(NODE_ENV).local`, `.env.local` (not when
 * NODE_ENV=test), `.env.$(NODE_ENV)`, `.env`; NODE_ENV is `production` unless it says `development` or
 * `test`. A variable set to an empty string in the environment counts as unset and is not filled in from
 * a file. Safe to call more than once: the first call's result stands.
 */
export function loadProjectEnv(dir: string = process.cwd()): void {
  loadEnvConfig(dir, process.env.NODE_ENV === "development", {
    info: () => {},
    error: (...args: unknown[]) => console.error(...args),
  });
}

import path from "node:path";
import { getConnection } from "@/db/client";
import { loadProjectEnv } from "./load-project-env";
import { prepareServer, startupFailureMessage } from "./prepare-server";

/**
 * `npm start`'s check before it builds or serves (scripts/start.mjs runs it, compiled, in a process of its
 * own): the whole configuration (every bad variable named at once), the local secrets, and the database
 * opened, locked (embedded) and migrated, then closed again. A bad configuration or a database that cannot
 * be opened is said in plain words and ends the start with status 1, before a minute of building. The server
 * checks all of it again when it starts (src/instrumentation.ts): something may change in between.
 */
async function preflight(): Promise<void> {
  // Started by scripts/start.mjs and useless without it: if that process is killed (kill -9 gives it no
  // chance to stop this one), stop too, so the embedded database is not held for a start that is gone.
  const parent = process.ppid;
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      process.exit(1);
    }
  }, 250).unref();
  loadProjectEnv(path.resolve(process.argv[2] ?? process.cwd()));
  try {
    await prepareServer();
  } catch (error) {
    console.error(startupFailureMessage(error));
    process.exit(1);
  }
  await (await getConnection()).close();
  process.exit(0);
}

void preflight();

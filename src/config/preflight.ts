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

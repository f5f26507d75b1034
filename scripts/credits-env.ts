// Imported first by scripts/credits.ts, so the .env files are loaded before any module reads
// process.env: the CLI sees exactly the configuration `npm start` and `next dev` see.
import { loadProjectEnv } from "@/config/load-project-env";

loadProjectEnv();

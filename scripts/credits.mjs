#!/usr/bin/env node
// `npm run credits -- <command>`: the operators' command line (scripts/credits.ts), run compiled
// (dist/credits.cjs, made by scripts/compile-tools.mjs when a source is newer), so no TypeScript loader runs.
import { createRequire } from "node:module";
import { compileTools, toolPath, toolsAreStale } from "./compile-tools.mjs";

if (toolsAreStale(["credits"])) await compileTools(["credits"]);
createRequire(import.meta.url)(toolPath("credits"));

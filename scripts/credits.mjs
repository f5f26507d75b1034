#!/usr/bin/env node
// `npm run credits -- <command>`: the operators' command line (scripts/credits.ts), run compiled
// (dist/credits.cjs, made by scripts/compile-tools.mjs when a source is newer), so no TypeScript loader runs.
import { createRequire } from "node:module";
import path from "node:path";
import { compileTools, toolsAreStale } from "./compile-tools.mjs";

const root = path.resolve(import.meta.dirname, "..");
if (toolsAreStale()) await compileTools();
createRequire(import.meta.url)(path.join(root, "dist", "credits.cjs"));

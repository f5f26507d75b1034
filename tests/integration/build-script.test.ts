import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/processes";

/**
 * docs/deploying.md builds once (`npm run build`) and then runs `npm start` under a process manager as a user
 * that need not be able to write the checkout (`User=creditkit`, `SKIP_BUILD=1`). So the build must make
 * everything `npm start` and `npm run credits` run: the app (Next.js) and the compiled tools in dist/. If
 * it leaves dist/ to the first start, that start fails to write it ("compiling the start-up check into
 * dist/ failed: ... permission denied"). Here Next.js's part is a stub: what is checked is that the build
 * script compiles the tools too.
 */
describe("npm run build", () => {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("compiles the tools npm start and npm run credits run into dist/", { timeout: 60_000 }, () => {
    const project = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-build-"));
    made.push(project);
    for (const name of ["src", "tsconfig.json", "package.json", "package-lock.json"])
      fs.symlinkSync(path.join(REPO_ROOT, name), path.join(project, name));
    // Copies: the tools are written beside the scripts that compile them (their checkout's dist/).
    fs.cpSync(path.join(REPO_ROOT, "scripts"), path.join(project, "scripts"), { recursive: true });
    // The repository's packages, but a `next` that only says it ran (a real build takes minutes).
    const modules = path.join(project, "node_modules");
    fs.mkdirSync(path.join(modules, ".bin"), { recursive: true });
    for (const entry of fs.readdirSync(path.join(REPO_ROOT, "node_modules"))) {
      if (entry !== ".bin")
        fs.symlinkSync(path.join(REPO_ROOT, "node_modules", entry), path.join(modules, entry));
    }
    fs.writeFileSync(path.join(modules, ".bin", "next"), '#!/bin/sh\necho next-stub "$@"\n', {
      mode: 0o755,
    });

    const result = spawnSync("npm", ["run", "build"], { cwd: project, encoding: "utf8" });
    const output = `${result.stdout}${result.stderr}`;
    expect(result.status, output).toBe(0);
    expect(output).toContain("next-stub build");
    for (const tool of ["preflight", "credits"])
      expect(fs.existsSync(path.join(project, "dist", `${tool}.cjs`)), `dist/${tool}.cjs`).toBe(true);
  });
});

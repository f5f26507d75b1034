import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

// Nobody may adopt code without a licence: package.json must name an OSI licence and LICENSE must carry its text.
describe("licence", () => {
  it("declares the MIT licence in package.json and ships its text in LICENSE", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { license?: string };
    expect(pkg.license).toBe("MIT");
    const text = fs.readFileSync(path.join(root, "LICENSE"), "utf8");
    expect(text.split("\n")[0]).toBe("MIT License");
    expect(text).toContain("Permission is hereby granted, free of charge");
  });
});

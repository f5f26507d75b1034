import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PLANS } from "../../src/catalog/plans";
import { creditEntryTypes } from "../../src/credits/schemas";

const root = path.resolve(import.meta.dirname, "../..");

function messages(locale: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(root, "messages", `${locale}.json`), "utf8"));
}

function lookup(tree: Record<string, unknown>, key: string): unknown {
  // Plan ids contain dashes but no dots, so a key's dots are its path.
  return key.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown>)?.[part], tree);
}

// The catalog names plans by message key (src/catalog/plans.ts); a missing key would show the raw key.
describe.each(["en", "zh"])("messages/%s.json", (locale) => {
  const tree = messages(locale);

  it("names and describes every plan", () => {
    for (const plan of PLANS) {
      expect(lookup(tree, plan.name), `${plan.name} in ${locale}`).toEqual(expect.any(String));
      expect(lookup(tree, plan.description), `${plan.description} in ${locale}`).toEqual(expect.any(String));
    }
  });

  it("labels every ledger entry type, subscription credits included", () => {
    for (const type of creditEntryTypes) {
      expect(lookup(tree, `transactionTypes.${type}`), `transactionTypes.${type}`).toEqual(
        expect.any(String),
      );
    }
  });
});

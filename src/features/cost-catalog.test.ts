import { describe, expect, it } from "vitest";
import { COST_CATALOG, parseCostCatalog } from "./cost-catalog";

describe("the cost catalog", () => {
  it("refuses at load a cost a hold cannot reserve, naming the feature and field", () => {
    expect(() => parseCostCatalog({ "video.render": { credits: 2.5, description: "Render" } })).toThrow(
      /feature "video\.render" credits: /,
    );
    expect(() => parseCostCatalog({ "video.render": { credits: 0, description: "Render" } })).toThrow(
      /feature "video\.render" credits: /,
    );
    expect(() =>
      parseCostCatalog({ "video.render": { credits: 2_000_000_000, description: "Render" } }),
    ).toThrow(/feature "video\.render" credits: /);
    expect(() => parseCostCatalog({ "video.render": { credits: 3, description: "Render\u0000" } })).toThrow(
      /feature "video\.render" description: /,
    );
  });

  it("accepts the shipped catalog", () => {
    expect(COST_CATALOG["image.generate"].credits).toBe(5);
  });
});

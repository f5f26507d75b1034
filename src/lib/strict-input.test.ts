import { describe, expect, it } from "vitest";
import { parseDecimalInteger, unstorableTextReason } from "./strict-input";

describe("parseDecimalInteger", () => {
  const bounds = { min: 1, max: 1_000 };
  it("reads plain decimal digits within the bounds", () => {
    expect(parseDecimalInteger("16", bounds)).toEqual({ ok: true, value: 16 });
    expect(parseDecimalInteger("0016", bounds)).toEqual({ ok: true, value: 16 });
    expect(parseDecimalInteger("1000", bounds)).toEqual({ ok: true, value: 1_000 });
  });
  it("refuses what Number() would quietly turn into another number", () => {
    for (const text of [
      "0x10",
      "0b1",
      "0o7",
      "1e2",
      "16.0",
      " 16",
      "16 ",
      "+16",
      "-1",
      "",
      "1_0",
      "Infinity",
    ]) {
      expect(parseDecimalInteger(text, bounds).ok, text).toBe(false);
    }
  });
  it("refuses values outside the bounds, however long", () => {
    expect(parseDecimalInteger("0", bounds).ok).toBe(false);
    expect(parseDecimalInteger("1001", bounds).ok).toBe(false);
    expect(parseDecimalInteger("9".repeat(400), bounds).ok).toBe(false);
  });
});

describe("unstorableTextReason", () => {
  it("refuses NUL and unpaired surrogates, accepts any other text", () => {
    expect(unstorableTextReason("a\u0000b")).toContain("NUL");
    expect(unstorableTextReason("a\uD800b")).toContain("surrogate");
    expect(unstorableTextReason("\uDC00")).toContain("surrogate");
    expect(unstorableTextReason("emoji 😀 和中文")).toBeNull();
  });
});

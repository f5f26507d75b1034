import { describe, expect, it } from "vitest";
import { addMonthsClamped, creditPeriod, creditPeriodIndexAt } from "./credit-periods";

const at = (iso: string) => new Date(iso);
const iso = (date: Date) => date.toISOString();

// The expected dates are written out literally (Stripe's documented month-end rule), not computed.
describe("Stripe's month-end anchoring", () => {
  it("an anchor on Jan 31 renews Feb 28, Mar 31, Apr 30, May 31 — computed from the anchor, not chained", () => {
    const anchor = at("2026-01-31T10:15:00.000Z");
    const renewals = [1, 2, 3, 4, 13].map((months) => iso(addMonthsClamped(anchor, months)));
    expect(renewals).toEqual([
      "2026-02-28T10:15:00.000Z",
      "2026-03-31T10:15:00.000Z",
      "2026-04-30T10:15:00.000Z",
      "2026-05-31T10:15:00.000Z",
      "2027-02-28T10:15:00.000Z",
    ]);
  });

  it("in a leap year February has its 29th", () => {
    expect(iso(addMonthsClamped(at("2028-01-31T00:00:00Z"), 1))).toBe("2028-02-29T00:00:00.000Z");
    expect(iso(addMonthsClamped(at("2028-01-30T00:00:00Z"), 1))).toBe("2028-02-29T00:00:00.000Z");
    expect(iso(addMonthsClamped(at("2028-01-29T00:00:00Z"), 1))).toBe("2028-02-29T00:00:00.000Z");
    expect(iso(addMonthsClamped(at("2026-01-29T00:00:00Z"), 1))).toBe("2026-02-28T00:00:00.000Z");
  });

  it("anchors on the 29th and 30th keep their day wherever the month has it", () => {
    const on30 = at("2026-01-30T08:00:00Z");
    expect([1, 2, 3].map((m) => iso(addMonthsClamped(on30, m)))).toEqual([
      "2026-02-28T08:00:00.000Z",
      "2026-03-30T08:00:00.000Z",
      "2026-04-30T08:00:00.000Z",
    ]);
    const on29 = at("2026-01-29T08:00:00Z");
    expect(iso(addMonthsClamped(on29, 2))).toBe("2026-03-29T08:00:00.000Z");
  });

  it("a yearly anchor of Feb 29 bills Feb 28 in other years and Feb 29 in the next leap year", () => {
    const anchor = at("2028-02-29T12:00:00Z");
    expect([12, 24, 36, 48].map((m) => iso(addMonthsClamped(anchor, m)))).toEqual([
      "2029-02-28T12:00:00.000Z",
      "2030-02-28T12:00:00.000Z",
      "2031-02-28T12:00:00.000Z",
      "2032-02-29T12:00:00.000Z",
    ]);
  });

  it("keeps the UTC time of day, across year ends", () => {
    expect(iso(addMonthsClamped(at("2026-12-31T23:59:59.500Z"), 2))).toBe("2027-02-28T23:59:59.500Z");
    expect(iso(addMonthsClamped(at("2026-11-15T00:00:01Z"), 1))).toBe("2026-12-15T00:00:01.000Z");
  });

  it("an explicit anchor day carries a clamped start back to the anchor's day", () => {
    // A yearly plan anchored on Jan 31 whose second year is counted from Feb 28 still renews on the 31st.
    expect(iso(addMonthsClamped(at("2027-02-28T00:00:00Z"), 1, 31))).toBe("2027-03-31T00:00:00.000Z");
    expect(iso(addMonthsClamped(at("2027-02-28T00:00:00Z"), 1))).toBe("2027-03-28T00:00:00.000Z");
  });

  it("refuses fractions of months and impossible anchor days", () => {
    expect(() => addMonthsClamped(at("2026-01-01T00:00:00Z"), 0.5)).toThrow(RangeError);
    expect(() => addMonthsClamped(at("2026-01-01T00:00:00Z"), 1, 32)).toThrow(RangeError);
  });
});

describe("periods of a schedule", () => {
  const anchor = at("2026-01-31T09:00:00Z");

  it("period i runs from the i-th anchored date to the next", () => {
    expect(creditPeriod(anchor, 0, 1)).toEqual({
      start: at("2026-01-31T09:00:00Z"),
      end: at("2026-02-28T09:00:00Z"),
    });
    expect(creditPeriod(anchor, 1, 1)).toEqual({
      start: at("2026-02-28T09:00:00Z"),
      end: at("2026-03-31T09:00:00Z"),
    });
    expect(creditPeriod(anchor, 1, 12)).toEqual({
      start: at("2027-01-31T09:00:00Z"),
      end: at("2028-01-31T09:00:00Z"),
    });
  });

  it("finds the period containing a moment: start included, end excluded", () => {
    expect(creditPeriodIndexAt(anchor, at("2026-01-30T00:00:00Z"), 1)).toBe(-1);
    expect(creditPeriodIndexAt(anchor, anchor, 1)).toBe(0);
    expect(creditPeriodIndexAt(anchor, at("2026-02-28T08:59:59Z"), 1)).toBe(0);
    expect(creditPeriodIndexAt(anchor, at("2026-02-28T09:00:00Z"), 1)).toBe(1);
    expect(creditPeriodIndexAt(anchor, at("2026-03-30T00:00:00Z"), 1)).toBe(1);
    expect(creditPeriodIndexAt(anchor, at("2026-03-31T09:00:00Z"), 1)).toBe(2);
    expect(creditPeriodIndexAt(anchor, at("2027-03-01T00:00:00Z"), 12)).toBe(1);
  });
});

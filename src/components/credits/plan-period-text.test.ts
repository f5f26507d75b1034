import fs from "node:fs";
import path from "node:path";
import { createFormatter, createTranslator } from "next-intl";
import { describe, expect, it } from "vitest";
import { planPeriodText } from "./plan-period-text";

// The history's words for a subscription's entries, from the real message files: a period's grant paid
// after the period ended says so and until when its credits are usable, in English and Chinese.
const root = path.resolve(import.meta.dirname, "../../..");
const messagesOf = (locale: string) =>
  JSON.parse(fs.readFileSync(path.join(root, "messages", `${locale}.json`), "utf8")) as Record<
    string,
    unknown
  >;

function wordsIn(locale: "en" | "zh") {
  const messages = messagesOf(locale);
  const t = createTranslator({ locale, messages });
  const format = createFormatter({ locale, timeZone: "UTC" });
  const plans = messages.plans as Record<string, { name: string }>;
  return {
    t: (key: string, values: Record<string, string>) => t(key as never, values as never) as string,
    day: (date: Date) => format.dateTime(date, { dateStyle: "medium", timeZone: "UTC" }),
    plan: (id: string) => plans[id]?.name ?? id,
  };
}

const period = {
  type: "subscription",
  planId: "pro-monthly",
  periodStart: "2026-09-01T00:00:00.000Z",
  periodEnd: "2026-10-01T00:00:00.000Z",
  periodKind: "period",
};

describe("history wording of period grants", () => {
  it("a grant paid late says so and until when it is usable (English)", () => {
    const words = wordsIn("en");
    const late = planPeriodText({ ...period, usableUntil: "2026-11-01T00:00:00.000Z" }, words);
    expect(late).toContain("Sep 1, 2026 – Oct 1, 2026");
    expect(late).toMatch(/paid late: usable until Nov 1, 2026$/);
    // An on-time grant says nothing of the kind.
    expect(planPeriodText(period, words)).not.toMatch(/late|until/);
  });

  it("a grant paid late says so and until when it is usable (Chinese)", () => {
    const words = wordsIn("zh");
    const late = planPeriodText({ ...period, usableUntil: "2026-11-01T00:00:00.000Z" }, words);
    expect(late).toContain("逾期付款");
    expect(late).toContain("可用至 2026年11月1日");
    expect(planPeriodText(period, words)).not.toContain("逾期");
  });

  it("a yearly slot paid on time but issued late by the credits job says issued late, not paid late", () => {
    const slot = { ...period, periodKind: "slot", usableUntil: "2026-11-01T00:00:00.000Z" };
    const en = wordsIn("en");
    const issued = planPeriodText({ ...slot, lateReason: "issued_late" }, en);
    expect(issued).toBe("Pro credits for Sep 1, 2026 – Oct 1, 2026, issued late: usable until Nov 1, 2026");
    expect(planPeriodText({ ...slot, lateReason: "paid_late" }, en)).toMatch(/paid late: usable until/);
    const zh = wordsIn("zh");
    const issuedZh = planPeriodText({ ...slot, lateReason: "issued_late" }, zh);
    expect(issuedZh).toContain("延迟发放");
    expect(issuedZh).toContain("可用至 2026年11月1日");
    expect(issuedZh).not.toContain("逾期付款");
  });

  it("a yearly slot paid late is worded the same way; other entries ignore the field", () => {
    const words = wordsIn("en");
    expect(
      planPeriodText({ ...period, periodKind: "slot", usableUntil: "2026-11-01T00:00:00.000Z" }, words),
    ).toMatch(/paid late: usable until Nov 1, 2026$/);
    expect(
      planPeriodText({ ...period, type: "rollover", usableUntil: "2026-11-01T00:00:00.000Z" }, words),
    ).not.toMatch(/late/);
  });
});

import { describe, expect, it } from "vitest";
import { cardOutcome, cardToKeep, chargeKeptCard } from "./test-cards";

describe("sandbox test cards", () => {
  it("follows Stripe's test-mode outcomes", () => {
    expect(cardOutcome("4242 4242 4242 4242")).toEqual({ kind: "succeeded" });
    expect(cardOutcome("4000000000000002")).toMatchObject({
      kind: "declined",
      declineCode: "generic_decline",
    });
    expect(cardOutcome("4000-0000-0000-9995")).toMatchObject({
      kind: "declined",
      declineCode: "insufficient_funds",
    });
    // 0341: charging it fails; 3155: the charge waits for an authentication the sandbox cannot give.
    expect(cardOutcome("4000 0000 0000 0341")).toMatchObject({
      kind: "declined",
      declineCode: "generic_decline",
    });
    expect(cardOutcome("4000 0025 0000 3155")).toMatchObject({ kind: "requires_action" });
  });

  it("rejects numbers that are not card numbers", () => {
    expect(cardOutcome("4242 4242 4242 4241").kind).toBe("invalid");
    expect(cardOutcome("abcd")).toMatchObject({ kind: "invalid" });
    expect(cardOutcome("")).toMatchObject({ kind: "invalid" });
  });

  it("declines a valid non-test card, as test mode does", () => {
    expect(cardOutcome("5555 5555 5555 4444")).toMatchObject({ kind: "declined" });
  });

  it("attaches 4242, 0341 and 3155 as cards on file; refuses cards declined outright and invalid numbers", () => {
    expect(cardToKeep("4242424242424242")).toEqual({
      ok: true,
      card: { behavior: "succeeds", last4: "4242" },
    });
    expect(cardToKeep("4000 0000 0000 0341")).toEqual({
      ok: true,
      card: { behavior: "charge_fails", last4: "0341" },
    });
    expect(cardToKeep("4000 0025 0000 3155")).toEqual({
      ok: true,
      card: { behavior: "requires_action", last4: "3155" },
    });
    expect(cardToKeep("4000000000000002")).toMatchObject({ ok: false, outcome: { kind: "declined" } });
    expect(cardToKeep("1234")).toMatchObject({ ok: false, outcome: { kind: "invalid" } });
  });

  it("charges a kept card off-session by its behaviour", () => {
    expect(chargeKeptCard("succeeds")).toEqual({ kind: "succeeded" });
    expect(chargeKeptCard("charge_fails")).toMatchObject({ kind: "declined" });
    expect(chargeKeptCard("requires_action")).toMatchObject({ kind: "requires_action" });
    expect(chargeKeptCard(null)).toMatchObject({ kind: "declined" });
  });
});

import { describe, expect, it } from "vitest";
import { cardOutcome } from "./test-cards";

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
  });

  it("rejects numbers that are not card numbers", () => {
    expect(cardOutcome("4242 4242 4242 4241").kind).toBe("invalid");
    expect(cardOutcome("abcd")).toMatchObject({ kind: "invalid" });
    expect(cardOutcome("")).toMatchObject({ kind: "invalid" });
  });

  it("declines a valid non-test card, as test mode does", () => {
    expect(cardOutcome("5555 5555 5555 4444")).toMatchObject({ kind: "declined" });
  });
});

import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { STRIPE_API_VERSION } from "./api-version";

describe("the pinned Stripe API version", () => {
  it("is the version the installed SDK pins: an SDK upgrade must re-check the shapes the handlers read", () => {
    expect(Stripe.API_VERSION).toBe(STRIPE_API_VERSION);
  });
});

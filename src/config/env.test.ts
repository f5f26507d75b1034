import { describe, expect, it } from "vitest";
import { isLocalUrl, serverConfigurationProblems } from "./env";

const variables = (source: Record<string, string>) =>
  serverConfigurationProblems(source).map((problem) => problem.variable);

const STRIPE = {
  STRIPE_SECRET_KEY: "sk_test_123",
  STRIPE_WEBHOOK_SECRET: "whsec_123",
  NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_123",
};

describe("serverConfigurationProblems", () => {
  it("accepts no configuration at all: npm install && npm start needs none", () => {
    expect(serverConfigurationProblems({})).toEqual([]);
  });

  it("runs the sandbox without keys only at a local URL", () => {
    for (const url of [
      "http://localhost:4000",
      "http://127.0.0.1:3000",
      "http://[::1]:3000",
      "http://app.localhost",
    ]) {
      expect(variables({ BETTER_AUTH_URL: url }), url).toEqual([]);
    }
    for (const url of ["https://credits.example.com", "http://192.168.1.20:3000", "http://10.0.0.5"]) {
      expect(variables({ BETTER_AUTH_URL: url }), url).toEqual(["PAYMENT_PROVIDER"]);
    }
  });

  it("runs the sandbox at a public URL when PAYMENT_PROVIDER=sandbox asks for it", () => {
    expect(variables({ BETTER_AUTH_URL: "https://demo.example.com", PAYMENT_PROVIDER: "sandbox" })).toEqual(
      [],
    );
  });

  it("wants Stripe's three settings together, from one mode", () => {
    expect(variables({ BETTER_AUTH_URL: "https://credits.example.com", ...STRIPE })).toEqual([]);
    expect(variables({ STRIPE_SECRET_KEY: "sk_test_123" })).toEqual([
      "STRIPE_WEBHOOK_SECRET",
      "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
    ]);
    expect(variables({ ...STRIPE, NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "" })).toEqual([
      "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
    ]);
    expect(variables({ ...STRIPE, NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_live_123" })).toEqual([
      "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
    ]);
    expect(variables({ STRIPE_WEBHOOK_SECRET: "whsec_123" })).toEqual(["STRIPE_SECRET_KEY"]);
    expect(variables({ PAYMENT_PROVIDER: "stripe" })).toEqual([
      "STRIPE_SECRET_KEY",
      "STRIPE_WEBHOOK_SECRET",
      "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
    ]);
  });

  it("reads numbers as plain decimal digits within bounds", () => {
    expect(variables({ PORT: "4000", RATE_LIMIT_API_PER_MINUTE: "0", SIGNUP_GIFT_CREDITS: "" })).toEqual([]);
    for (const value of ["0x10", "1e3", "ten", "-1", "12.5", "1_000"]) {
      expect(variables({ RATE_LIMIT_PURCHASES_PER_MINUTE: value }), value).toEqual([
        "RATE_LIMIT_PURCHASES_PER_MINUTE",
      ]);
    }
    expect(variables({ PORT: "70000" })).toEqual(["PORT"]);
    expect(variables({ SIGNUP_GIFT_EXPIRE_DAYS: "36501" })).toEqual(["SIGNUP_GIFT_EXPIRE_DAYS"]);
  });

  it("names every malformed value at once, and still applies the rules between them", () => {
    expect(
      variables({
        BETTER_AUTH_SECRET: "short",
        DATABASE_URL: "mysql://localhost/creditkit",
        LOG_LEVEL: "verbose",
        CREDITKIT_JOBS: "false",
        PAYMENT_PROVIDER: "paypal",
        STRIPE_SECRET_KEY: "sk_test_123",
      }).sort(),
    ).toEqual(
      [
        "BETTER_AUTH_SECRET",
        "CREDITKIT_JOBS",
        "DATABASE_URL",
        "LOG_LEVEL",
        "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
        "PAYMENT_PROVIDER",
        "STRIPE_WEBHOOK_SECRET",
      ].sort(),
    );
  });
});

describe("isLocalUrl", () => {
  it("knows loopback names and addresses only", () => {
    expect(isLocalUrl("http://LOCALHOST:3000")).toBe(true);
    expect(isLocalUrl("http://127.1.2.3")).toBe(true);
    expect(isLocalUrl("http://localhost.example.com")).toBe(false);
    expect(isLocalUrl("http://127.0.0.1.nip.io")).toBe(false);
  });
});

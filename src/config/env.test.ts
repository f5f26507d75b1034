import { describe, expect, it } from "vitest";
import {
  adminEmails,
  allowPrivateWebhookUrls,
  isLocalUrl,
  LISTEN_CHECKED_VARIABLE,
  listenHosts,
  nextListenProblems,
  type ServerEnv,
  serverConfigurationProblems,
} from "./env";

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

  it("takes the email outbox's retention in whole days, at least one", () => {
    expect(variables({ EMAIL_OUTBOX_RETENTION_DAYS: "90" })).toEqual([]);
    for (const value of ["0", "-1", "thirty"])
      expect(variables({ EMAIL_OUTBOX_RETENTION_DAYS: value }), value).toEqual([
        "EMAIL_OUTBOX_RETENTION_DAYS",
      ]);
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

describe("ADMIN_EMAILS", () => {
  it("is a comma-separated list of addresses; anything else names the entries that are not addresses", () => {
    expect(variables({ ADMIN_EMAILS: "boss@example.test" })).toEqual([]);
    expect(variables({ ADMIN_EMAILS: " boss@example.test , Ops@Example.test," })).toEqual([]);
    for (const value of ["boss", "a@b.test;c@d.test", "a@b.test c@d.test", "boss@example.test,ops"]) {
      const problems = serverConfigurationProblems({ ADMIN_EMAILS: value });
      expect(
        problems.map((problem) => problem.variable),
        value,
      ).toEqual(["ADMIN_EMAILS"]);
      expect(problems[0]?.message).toContain("separated by commas");
    }
    expect(serverConfigurationProblems({ ADMIN_EMAILS: "boss@example.test,ops" })[0]?.message).toContain(
      '"ops"',
    );
  });

  it("is read lower-cased and trimmed", () => {
    expect([...adminEmails({ ADMIN_EMAILS: " Boss@Example.test ,ops@example.test" } as ServerEnv)]).toEqual([
      "boss@example.test",
      "ops@example.test",
    ]);
  });
});

describe("mail settings that would send nothing", () => {
  const PUBLIC = { BETTER_AUTH_URL: "https://credits.example.com", PAYMENT_PROVIDER: "sandbox" };
  const FROM = { EMAIL_FROM: "credits@example.com" };
  it("accepts a whole server setting", () => {
    expect(variables({ SMTP_URL: "smtp://127.0.0.1:2525", EMAIL_FROM: "credits@example.com" })).toEqual([]);
    expect(
      variables({
        ...PUBLIC,
        EMAIL_FROM: "credits@example.com",
        SMTP_HOST: "smtp.example.com",
        SMTP_USER: "me",
        SMTP_PASSWORD: "secret",
        SMTP_PORT: "465",
        SMTP_SECURE: "true",
      }),
    ).toEqual([]);
    expect(variables({ SMTP_HOST: "smtp.example.com", EMAIL_FROM: "Credits <credits@example.com>" })).toEqual(
      [],
    );
  });

  it("refuses what starts and then sends nothing", () => {
    // A server without a sender: a guessed no-reply@<host> is refused by most mail servers.
    expect(variables({ SMTP_HOST: "smtp.example.com" })).toEqual(["EMAIL_FROM"]);
    expect(variables({ SMTP_URL: "smtp://127.0.0.1:2525" })).toEqual(["EMAIL_FROM"]);
    expect(variables({ ...PUBLIC, SMTP_HOST: "smtp.example.com" })).toEqual(["EMAIL_FROM"]);
    // TLS from the first byte, or not, against a port that speaks the other way: the connection hangs.
    expect(variables({ ...FROM, SMTP_URL: "smtps://me:pw@smtp.example.com:587" })).toEqual(["SMTP_URL"]);
    expect(variables({ ...FROM, SMTP_URL: "smtp://me:pw@smtp.example.com:465" })).toEqual(["SMTP_URL"]);
    expect(variables({ ...FROM, SMTP_URL: "smtps://me:pw@smtp.example.com:465" })).toEqual([]);
    expect(variables({ ...PUBLIC, SMTP_HOST: "smtp.example.com", EMAIL_FROM: "creditkit" })).toEqual([
      "EMAIL_FROM",
    ]);
    // Parts of a server without the server: nothing is sent at all.
    expect(variables({ SMTP_USER: "me", SMTP_PASSWORD: "secret" })).toEqual(["SMTP_HOST"]);
    expect(variables({ EMAIL_FROM: "credits@example.com" })).toEqual(["SMTP_URL"]);
    expect(
      variables({ ...PUBLIC, ...FROM, SMTP_HOST: "smtp.example.com", SMTP_URL: "smtp://other.example.com" }),
    ).toEqual(["SMTP_HOST"]);
    expect(variables({ ...PUBLIC, ...FROM, SMTP_HOST: "smtp.example.com", SMTP_USER: "me" })).toEqual([
      "SMTP_PASSWORD",
    ]);
    expect(variables({ ...PUBLIC, ...FROM, SMTP_HOST: "smtp.example.com", SMTP_PORT: "465" })).toEqual([
      "SMTP_SECURE",
    ]);
    expect(
      variables({ ...PUBLIC, ...FROM, SMTP_HOST: "smtp.example.com", SMTP_PORT: "587", SMTP_SECURE: "true" }),
    ).toEqual(["SMTP_SECURE"]);
  });
});

describe("where the server listens", () => {
  const env = (source: Record<string, string>) => {
    expect(serverConfigurationProblems(source)).toEqual([]);
    return listenHosts({ PORT: 3000, DATA_DIR: ".data", NODE_ENV: "production", ...source } as ServerEnv);
  };
  it("on this machine only for the sandbox nobody asked for; HOST or a configured provider otherwise", () => {
    expect(env({})).toEqual(["127.0.0.1", "::1"]);
    expect(env({ HOST: "127.0.0.1" })).toEqual(["127.0.0.1"]);
    expect(env({ HOST: "::1" })).toEqual(["::1"]);
    expect(env({ HOST: "localhost" })).toEqual(["localhost"]);
    expect(env({ PAYMENT_PROVIDER: "sandbox" })).toEqual([undefined]);
    expect(env({ PAYMENT_PROVIDER: "sandbox", HOST: "0.0.0.0" })).toEqual(["0.0.0.0"]);
    expect(env(STRIPE)).toEqual([undefined]);
  });

  it("refuses a HOST other machines can reach while the sandbox runs unasked", () => {
    for (const host of ["0.0.0.0", "::", "192.168.1.20", "example.com"]) {
      const problems = serverConfigurationProblems({ HOST: host });
      expect(
        problems.map((problem) => problem.variable),
        host,
      ).toEqual(["HOST"]);
      expect(problems[0]?.message).toContain("PAYMENT_PROVIDER=sandbox");
    }
  });

  // `next start` and `next dev` run on their own listen on every interface: the sandbox nobody asked for
  // is refused there unless npm start or npm run dev chose the address (and marked it).
  it("refuses the sandbox nobody asked for under next start or next dev run on their own", () => {
    expect(nextListenProblems({}).map((problem) => problem.variable)).toEqual(["PAYMENT_PROVIDER"]);
    expect(nextListenProblems({})[0]?.message).toContain("npm start");
    expect(nextListenProblems({ [LISTEN_CHECKED_VARIABLE]: "1" })).toEqual([]);
    expect(nextListenProblems({ PAYMENT_PROVIDER: "sandbox" })).toEqual([]);
    expect(nextListenProblems(STRIPE)).toEqual([]);
  });

  // Listening on loopback protects nothing when a proxy on the same machine forwards other machines'
  // requests to it, and TRUST_PROXY says one does (nginx in front of 127.0.0.1:3000, a tunnel).
  it("refuses TRUST_PROXY while the sandbox runs unasked: a proxy brings other machines to it", () => {
    for (const trustProxy of ["1", "127.0.0.1", "10.0.0.0/8"]) {
      const problems = serverConfigurationProblems({ TRUST_PROXY: trustProxy });
      expect(
        problems.map((problem) => problem.variable),
        trustProxy,
      ).toEqual(["TRUST_PROXY"]);
      expect(problems[0]?.message).toContain("PAYMENT_PROVIDER=sandbox");
    }
    expect(serverConfigurationProblems({ TRUST_PROXY: "1", PAYMENT_PROVIDER: "sandbox" })).toEqual([]);
    expect(serverConfigurationProblems({ TRUST_PROXY: "1", ...STRIPE })).toEqual([]);
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

describe("allowPrivateWebhookUrls", () => {
  const allowed = (source: Record<string, string>) =>
    allowPrivateWebhookUrls({
      PORT: 3000,
      DATA_DIR: ".data",
      NODE_ENV: "production",
      ...source,
    } as ServerEnv);
  it("follows WEBHOOK_ALLOW_PRIVATE_URLS; unset, allows them only under test and the unconfigured sandbox", () => {
    expect(allowed({})).toBe(true);
    expect(allowed({ NODE_ENV: "test", ...STRIPE })).toBe(true);
    expect(allowed(STRIPE)).toBe(false);
    expect(allowed({ PAYMENT_PROVIDER: "sandbox" })).toBe(false);
    expect(allowed({ ...STRIPE, WEBHOOK_ALLOW_PRIVATE_URLS: "true" })).toBe(true);
    expect(allowed({ NODE_ENV: "test", WEBHOOK_ALLOW_PRIVATE_URLS: "false" })).toBe(false);
  });
  it("refuses a value other than true or false, naming the variable", () => {
    expect(variables({ WEBHOOK_ALLOW_PRIVATE_URLS: "yes" })).toContain("WEBHOOK_ALLOW_PRIVATE_URLS");
  });
});

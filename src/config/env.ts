import { z } from "zod";
import { parseTrustProxy } from "@/lib/client-address";
import { parseDecimalInteger } from "@/lib/strict-input";

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value?.trim() ? value.trim() : undefined));

/**
 * A whole-number setting in plain decimal digits ("0x10", "1e3" and "ten" are refused, not read as 16,
 * 1000 and NaN). Unset or empty means the default.
 */
const integerSetting = (fallback: number, bounds: { min: number; max: number }) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      const text = value?.trim() ?? "";
      if (text === "") return fallback;
      const parsed = parseDecimalInteger(text, bounds);
      if (parsed.ok) return parsed.value;
      context.addIssue({ code: "custom", message: parsed.reason });
      return z.NEVER;
    });

/** Like integerSetting, for a setting whose default depends on others: unset or empty stays undefined. */
const optionalIntegerSetting = (bounds: { min: number; max: number }) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      const text = value?.trim() ?? "";
      if (text === "") return undefined;
      const parsed = parseDecimalInteger(text, bounds);
      if (parsed.ok) return parsed.value;
      context.addIssue({ code: "custom", message: parsed.reason });
      return z.NEVER;
    });

/** "a@b.example" or "Name <a@b.example>": one sender address, as nodemailer's `from` takes it. */
function isMailbox(value: string): boolean {
  const address = /^[^<>]*<([^<>]+)>$/.exec(value)?.[1] ?? value;
  return z.email().safeParse(address.trim()).success;
}

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });

const serverEnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: integerSetting(3000, { min: 1, max: 65_535 }),
  HOST: optionalString,
  DATA_DIR: optionalString.transform((value) => value ?? ".data"),
  DATABASE_URL: optionalString.pipe(
    z.url({ protocol: /^postgres(ql)?$/, error: "must be a postgres:// or postgresql:// URL" }).optional(),
  ),
  LOG_LEVEL: optionalString.pipe(
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
  ),
  BETTER_AUTH_SECRET: optionalString.pipe(
    z
      .string()
      .min(32, "must be at least 32 characters (e.g. the output of `openssl rand -hex 32`)")
      .optional(),
  ),
  BETTER_AUTH_URL: optionalString.pipe(httpUrl.optional()),
  // Every entry an address: "boss" or "a@b.test;c@d.test" would otherwise match nobody, silently.
  ADMIN_EMAILS: optionalString.superRefine((value, ctx) => {
    const bad = (value ?? "")
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "" && !z.email().safeParse(entry).success);
    if (bad.length > 0)
      ctx.addIssue({
        code: "custom",
        message: `must be email addresses separated by commas (e.g. boss@example.com,ops@example.com); not an address: ${bad.map((entry) => JSON.stringify(entry)).join(", ")}`,
      });
  }),
  // Proxies whose X-Forwarded-For is believed: a hop count ("1") or addresses/CIDRs (src/lib/client-address.ts).
  TRUST_PROXY: optionalString.superRefine((value, ctx) => {
    try {
      parseTrustProxy(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
    }
  }),
  // Outgoing email (src/email): SMTP_URL, or SMTP_HOST with the rest. Unset: links go to the server log.
  SMTP_URL: optionalString.pipe(
    z.url({ protocol: /^smtps?$/, error: "must be an smtp:// or smtps:// URL" }).optional(),
  ),
  SMTP_HOST: optionalString,
  SMTP_PORT: optionalIntegerSetting({ min: 1, max: 65_535 }),
  SMTP_USER: optionalString,
  SMTP_PASSWORD: optionalString,
  SMTP_SECURE: optionalString.pipe(z.enum(["true", "false"]).optional()),
  // An address, or a display name with the address in angle brackets; a bare name is refused by mail servers.
  EMAIL_FROM: optionalString.superRefine((value, ctx) => {
    if (value !== undefined && !isMailbox(value))
      ctx.addIssue({
        code: "custom",
        message:
          'must be one email address, optionally with a name: "credits@example.com" or "Credits <credits@example.com>"',
      });
  }),
  PAYMENT_PROVIDER: optionalString.pipe(
    z.enum(["stripe", "sandbox"], { error: 'must be "stripe" or "sandbox" (or unset)' }).optional(),
  ),
  STRIPE_SECRET_KEY: optionalString.pipe(
    z
      .string()
      .regex(/^(sk|rk)_(test|live)_/, "must be a Stripe secret key (sk_test_… or sk_live_…)")
      .optional(),
  ),
  STRIPE_WEBHOOK_SECRET: optionalString.pipe(
    z.string().startsWith("whsec_", "must be a webhook signing secret (whsec_…)").optional(),
  ),
  NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: optionalString.pipe(
    z
      .string()
      .regex(/^pk_(test|live)_/, "must be a Stripe publishable key (pk_test_… or pk_live_…)")
      .optional(),
  ),
  STRIPE_API_BASE: optionalString.pipe(httpUrl.optional()),
  RATE_LIMIT_PURCHASES_PER_MINUTE: integerSetting(10, { min: 0, max: 1_000_000_000 }),
  RATE_LIMIT_API_PER_MINUTE: integerSetting(60_000, { min: 0, max: 1_000_000_000 }),
  // History exports per signed-in user per minute: each reads a whole (possibly very long) ledger.
  RATE_LIMIT_EXPORTS_PER_MINUTE: integerSetting(10, { min: 0, max: 1_000_000_000 }),
  // Sign-ups and sign-ins per client address per minute: the brute-force targets (Better Auth's limiter).
  RATE_LIMIT_AUTH_PER_MINUTE: integerSetting(20, { min: 1, max: 1_000_000 }),
  SIGNUP_GIFT_CREDITS: integerSetting(50, { min: 0, max: 1_000_000 }),
  SIGNUP_GIFT_EXPIRE_DAYS: integerSetting(30, { min: 0, max: 36_500 }),
  // Days a sent (or given-up) email stays in email_outbox before the retention job deletes it
  // (src/email/prune-email-outbox.ts); pending emails are never deleted.
  EMAIL_OUTBOX_RETENTION_DAYS: integerSetting(30, { min: 1, max: 36_500 }),
  CREDITKIT_JOBS: optionalString.pipe(z.enum(["on", "off"], { error: 'must be "on" or "off"' }).optional()),
  // Outbound events to loopback and private-network addresses (src/outbound/address-policy.ts); see
  // allowPrivateWebhookUrls() for the default.
  WEBHOOK_ALLOW_PRIVATE_URLS: optionalString.pipe(
    z.enum(["true", "false"], { error: 'must be "true" or "false" (or unset)' }).optional(),
  ),
});

export type ServerEnv = z.infer<typeof serverEnvSchema>;

/** One thing wrong with the configuration, named by its variable. */
export type ConfigurationProblem = { variable: string; message: string };

/** The configuration cannot work; `problems` names every variable at fault, not only the first. */
export class ConfigurationError extends Error {
  readonly code = "invalid_configuration";
  constructor(readonly problems: ConfigurationProblem[]) {
    super(
      `Invalid configuration: ${problems.map((problem) => `${problem.variable}: ${problem.message}`).join("; ")}`,
    );
    this.name = "ConfigurationError";
  }
}

type EnvSource = Record<string, string | undefined>;

function parseServerEnv(
  source: EnvSource,
): { env: ServerEnv; problems: [] } | { env: undefined; problems: ConfigurationProblem[] } {
  const parsed = serverEnvSchema.safeParse(source);
  if (parsed.success) return { env: parsed.data, problems: [] };
  return {
    env: undefined,
    problems: parsed.error.issues.map((issue) => ({
      variable: issue.path.join(".") || "environment",
      message: issue.message,
    })),
  };
}

/**
 * Rules without which the app cannot do its job correctly in any process (server or CLI): every value
 * well-formed, and Stripe's webhook secret beside its secret key (without it no payment is ever granted).
 */
function coreProblems(env: ServerEnv): ConfigurationProblem[] {
  const problems: ConfigurationProblem[] = [];
  if (env.STRIPE_SECRET_KEY && !env.STRIPE_WEBHOOK_SECRET && env.PAYMENT_PROVIDER !== "sandbox") {
    problems.push({
      variable: "STRIPE_WEBHOOK_SECRET",
      message:
        "required when STRIPE_SECRET_KEY is set (the signing secret of your webhook endpoint, whsec_…); without it no payment is ever granted",
    });
  }
  return problems;
}

let cached: ServerEnv | undefined;

/**
 * The server's configuration, parsed once. Throws ConfigurationError naming every bad variable.
 * Servers check more before they listen: see serverConfigurationProblems().
 */
export function getServerEnv(): ServerEnv {
  if (cached) return cached;
  const { env, problems } = parseServerEnv(process.env);
  if (!env) throw new ConfigurationError(problems);
  const core = coreProblems(env);
  if (core.length > 0) throw new ConfigurationError(core);
  cached = env;
  return env;
}

/**
 * The app's public URL: BETTER_AUTH_URL, or http://localhost:$PORT when it is unset, so that
 * `PORT=4000 npm start` needs nothing else. Cookies, redirects and the allowed Origin follow it.
 */
export function publicUrl(env: ServerEnv = getServerEnv()): string {
  return env.BETTER_AUTH_URL ?? `http://localhost:${env.PORT}`;
}

/** localhost (and *.localhost), 127.0.0.0/8 and ::1: URLs nobody else can reach. */
export function isLocalUrl(url: string): boolean {
  const host = new URL(url).hostname.toLowerCase();
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}

const STRIPE_SETTINGS = [
  "STRIPE_SECRET_KEY",
  "STRIPE_WEBHOOK_SECRET",
  "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
] as const;

/**
 * Everything wrong with the configuration for serving the app, each problem naming its variable; empty
 * when the server may start. Beyond getServerEnv()'s rules:
 * - Stripe needs all three settings (a secret key without the publishable key would start and fail at the
 *   first purchase), in the same mode (test or live).
 * - The payment sandbox accepts the test card 4242 as payment, so it serves only a local URL unless the
 *   operator asks for it with PAYMENT_PROVIDER=sandbox: a forgotten key must not give credits away.
 */
export function serverConfigurationProblems(source: EnvSource = process.env): ConfigurationProblem[] {
  const { env: parsed, problems } = parseServerEnv(source);
  // The rules below also run when some values are malformed (judged without those values), so one
  // start names every problem instead of one per attempt.
  const bad = new Set(problems.map((problem) => problem.variable));
  const env =
    parsed ??
    parseServerEnv(Object.fromEntries(Object.entries(source).filter(([name]) => !bad.has(name)))).env;
  if (!env) return problems;
  const found = [...problems, ...coreProblems(env)];
  const missing = STRIPE_SETTINGS.filter((name) => !env[name]);
  const provider = env.PAYMENT_PROVIDER ?? (env.STRIPE_SECRET_KEY ? "stripe" : "sandbox");

  if (provider === "stripe") {
    for (const name of missing) {
      if (found.some((problem) => problem.variable === name)) continue;
      found.push({
        variable: name,
        message: env.PAYMENT_PROVIDER
          ? "required with PAYMENT_PROVIDER=stripe"
          : "required when STRIPE_SECRET_KEY is set (Stripe needs its secret key, webhook signing secret and publishable key)",
      });
    }
    const secretMode = env.STRIPE_SECRET_KEY?.split("_")[1];
    const publishableMode = env.NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY?.split("_")[1];
    if (secretMode && publishableMode && secretMode !== publishableMode) {
      found.push({
        variable: "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
        message: `is a ${publishableMode} key but STRIPE_SECRET_KEY is a ${secretMode} key; use both keys of one mode`,
      });
    }
  } else if (!env.PAYMENT_PROVIDER) {
    if (bad.has("STRIPE_SECRET_KEY")) {
      // Already reported as malformed.
    } else if (env.STRIPE_WEBHOOK_SECRET || env.NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY) {
      found.push({
        variable: "STRIPE_SECRET_KEY",
        message:
          "required when STRIPE_WEBHOOK_SECRET or NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY is set; without it the payment sandbox would run instead of Stripe",
      });
    } else if (!isLocalUrl(publicUrl(env))) {
      found.push({
        variable: "PAYMENT_PROVIDER",
        message: `no Stripe keys are set and the app is served at ${publicUrl(env)}, not a local URL, where the payment sandbox would give credits away for the test card: set ${STRIPE_SETTINGS.join(", ")} to take payments with Stripe, or PAYMENT_PROVIDER=sandbox to run the sandbox there on purpose`,
      });
    }
  }
  // Listening on loopback only keeps other machines away unless a proxy on this machine forwards their
  // requests, which is what TRUST_PROXY says (nginx in front of 127.0.0.1:3000, a tunnel): then the
  // sandbox would take the test card from anyone the proxy serves.
  if (implicitSandbox(env) && env.TRUST_PROXY && !bad.has("TRUST_PROXY")) {
    found.push({
      variable: "TRUST_PROXY",
      message: `is set, so a proxy forwards other machines' requests to this server, but no payment provider is configured, and the payment sandbox gives credits away for the test card to anyone who reaches it: set ${STRIPE_SETTINGS.join(", ")} to take payments with Stripe, or PAYMENT_PROVIDER=sandbox to serve the sandbox through the proxy on purpose`,
    });
  }
  if (implicitSandbox(env) && env.HOST && !isLoopbackHost(env.HOST)) {
    found.push({
      variable: "HOST",
      message: `is ${env.HOST}, an address other machines can reach, but no payment provider is configured, and the payment sandbox gives credits away for the test card to anyone who can reach it: leave HOST unset (the sandbox listens on this machine only), set ${STRIPE_SETTINGS.join(", ")} to take payments with Stripe, or PAYMENT_PROVIDER=sandbox to serve the sandbox to others on purpose`,
    });
  }
  // A malformed value was read as unset above: it is reported once, as malformed, not also as missing.
  found.push(...mailProblems(env).filter((problem) => !bad.has(problem.variable)));
  return found;
}

/**
 * The zero-configuration sandbox: no PAYMENT_PROVIDER and no Stripe keys. Nobody asked for it, so it must
 * not be reachable by anyone but the person at this machine (see listenHosts()).
 */
function implicitSandbox(env: ServerEnv): boolean {
  return !env.PAYMENT_PROVIDER && !STRIPE_SETTINGS.some((name) => env[name]);
}

/**
 * Set by scripts/server.mjs (npm start) and scripts/dev.mjs (npm run dev) when they bind the server to the
 * addresses listenHosts() chose. `next start` and `next dev` run alone listen on every interface unless
 * told otherwise (`-H`), which the app cannot see; without this mark the zero-configuration sandbox
 * refuses to start under them (see nextListenProblems()).
 */
export const LISTEN_CHECKED_VARIABLE = "CREDITKIT_LISTEN_CHECKED";

/**
 * For a server started by Next.js's own command (`next start`, `next dev`, src/instrumentation.ts): the
 * zero-configuration sandbox is refused unless one of the app's scripts chose where it listens, because
 * Next.js listens on every interface by default and the sandbox gives credits away for the test card to
 * anyone who reaches it. Empty otherwise (a payment provider configured, or started by the scripts).
 */
export function nextListenProblems(source: EnvSource = process.env): ConfigurationProblem[] {
  const { env } = parseServerEnv(source);
  if (!env || !implicitSandbox(env) || source[LISTEN_CHECKED_VARIABLE] === "1") return [];
  return [
    {
      variable: "PAYMENT_PROVIDER",
      message: `no payment provider is configured, and \`next start\` / \`next dev\` run on their own listen on every interface (as does \`npm run dev -- -H <address>\` on the address given), where the payment sandbox would give credits away for the test card to other machines: start with \`npm start\` or \`npm run dev\` (this machine only), set ${STRIPE_SETTINGS.join(", ")} to take payments with Stripe, or PAYMENT_PROVIDER=sandbox to serve the sandbox to others on purpose`,
    },
  ];
}

/** localhost, 127.0.0.0/8 and ::1: listening there, only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  return name === "localhost" || name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * The addresses the server listens on: HOST when set; the loopback addresses (IPv4 and IPv6) for the
 * zero-configuration sandbox, which must not take test-card "payments" from other machines on the
 * network; otherwise every interface (`undefined`), like `next start`.
 */
export function listenHosts(env: ServerEnv = getServerEnv()): (string | undefined)[] {
  if (env.HOST) return [env.HOST];
  if (implicitSandbox(env)) return ["127.0.0.1", "::1"];
  return [undefined];
}

/**
 * Whether webhook endpoints may be on loopback or a private network (127/8, ::1, 10/8, 172.16/12,
 * 192.168/16, fc00::/7): WEBHOOK_ALLOW_PRIVATE_URLS when set. Unset, they are allowed under NODE_ENV=test
 * (the test suites' receivers listen on 127.0.0.1) and with the zero-configuration payment sandbox (it
 * serves this machine only, so whoever registers an endpoint sits at this machine: local development), and
 * refused otherwise: a deployment with a payment provider serves other machines, and an `admin` API key is
 * a remote backend's credential that must not become a probe of the server's own network.
 * Link-local and cloud metadata addresses are refused whatever this says.
 */
export function allowPrivateWebhookUrls(env: ServerEnv = getServerEnv()): boolean {
  if (env.WEBHOOK_ALLOW_PRIVATE_URLS) return env.WEBHOOK_ALLOW_PRIVATE_URLS === "true";
  return env.NODE_ENV === "test" || implicitSandbox(env);
}

const SMTP_PARTS = ["SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_SECURE"] as const;

/**
 * Mail settings that would start and then send nothing, each a silent failure at the first sign-up:
 * parts of an SMTP server without its host (no mail is sent at all, links go to the log), two servers
 * at once, a login without its password (or the reverse), TLS settings that cannot talk to the port
 * (the connection hangs until it times out), a sender without a server, or a server without a sender
 * (a guessed no-reply@<app host> is refused by most mail servers, or filed as spam).
 */
function mailProblems(env: ServerEnv): ConfigurationProblem[] {
  const problems: ConfigurationProblem[] = [];
  const configured = Boolean(env.SMTP_URL || env.SMTP_HOST);
  const parts = SMTP_PARTS.filter((name) => env[name] !== undefined);
  if (env.SMTP_URL && env.SMTP_HOST) {
    problems.push({
      variable: "SMTP_HOST",
      message: "set together with SMTP_URL; set one of them (SMTP_URL carries the whole server setting)",
    });
  } else if (env.SMTP_URL && parts.length > 0) {
    problems.push({
      variable: parts.join(", "),
      message: "ignored when SMTP_URL is set; put them in SMTP_URL or set SMTP_HOST instead",
    });
  } else if (!configured && parts.length > 0) {
    problems.push({
      variable: "SMTP_HOST",
      message: `required when ${parts.join(", ")} ${parts.length === 1 ? "is" : "are"} set; without it no email is sent at all`,
    });
  }
  if (env.SMTP_HOST && !env.SMTP_URL) {
    if (env.SMTP_USER && !env.SMTP_PASSWORD)
      problems.push({ variable: "SMTP_PASSWORD", message: "required when SMTP_USER is set" });
    if (env.SMTP_PASSWORD && !env.SMTP_USER)
      problems.push({ variable: "SMTP_USER", message: "required when SMTP_PASSWORD is set" });
    const secure = env.SMTP_SECURE === "true";
    if (secure && (env.SMTP_PORT === 587 || env.SMTP_PORT === 25))
      problems.push({
        variable: "SMTP_SECURE",
        message: `is true (TLS from the first byte) but SMTP_PORT ${env.SMTP_PORT} speaks plain SMTP and upgrades with STARTTLS: set SMTP_SECURE=false, or SMTP_PORT=465`,
      });
    if (!secure && env.SMTP_PORT === 465)
      problems.push({
        variable: "SMTP_SECURE",
        message: "must be true with SMTP_PORT=465 (TLS from the first byte); otherwise the connection hangs",
      });
  }
  if (!configured && env.EMAIL_FROM)
    problems.push({
      variable: "SMTP_URL",
      message: "or SMTP_HOST is required when EMAIL_FROM is set; without a mail server no email is sent",
    });
  if (configured && !env.EMAIL_FROM)
    problems.push({
      variable: "EMAIL_FROM",
      message:
        "required with SMTP: the sender address your mail server accepts (e.g. credits@example.com); a guessed one such as no-reply@<app host> is refused or filed as spam by most servers",
    });
  if (env.SMTP_URL) {
    // The scheme says whether TLS starts at once; a port that speaks the other way hangs until the timeout.
    const url = new URL(env.SMTP_URL);
    if (url.protocol === "smtps:" && (url.port === "587" || url.port === "25"))
      problems.push({
        variable: "SMTP_URL",
        message: `smtps:// starts TLS at once, but port ${url.port} speaks plain SMTP first: use smtp:// (STARTTLS) with it, or port 465`,
      });
    if (url.protocol === "smtp:" && url.port === "465")
      problems.push({
        variable: "SMTP_URL",
        message: "port 465 expects TLS from the first byte: use smtps:// with it",
      });
  }
  return problems;
}

export function adminEmails(env: ServerEnv = getServerEnv()): Set<string> {
  return new Set(
    (env.ADMIN_EMAILS ?? "")
      .split(",")
      .map((email) => email.trim().toLowerCase())
      .filter(Boolean),
  );
}

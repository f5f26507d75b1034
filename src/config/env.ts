import { z } from "zod";
import { parseTrustProxy } from "@/server/client-address";

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value?.trim() ? value.trim() : undefined));

const serverEnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  DATA_DIR: z.string().default(".data"),
  DATABASE_URL: optionalString.pipe(z.url().startsWith("postgres").optional()),
  BETTER_AUTH_SECRET: optionalString.pipe(z.string().min(32).optional()),
  BETTER_AUTH_URL: optionalString.pipe(z.url().optional()),
  ADMIN_EMAILS: optionalString,
  STRIPE_SECRET_KEY: optionalString.pipe(z.string().startsWith("sk_").optional()),
  STRIPE_WEBHOOK_SECRET: optionalString.pipe(z.string().startsWith("whsec_").optional()),
  NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: optionalString.pipe(z.string().startsWith("pk_").optional()),
  STRIPE_API_BASE: optionalString.pipe(z.url().optional()),
  RATE_LIMIT_PURCHASES_PER_MINUTE: z.coerce.number().int().min(0).default(10),
  RATE_LIMIT_API_PER_MINUTE: z.coerce.number().int().min(0).default(60_000),
  SIGNUP_GIFT_CREDITS: z.coerce.number().int().min(0).max(1_000_000).default(50),
  SIGNUP_GIFT_EXPIRE_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
  // Proxies whose X-Forwarded-For is believed: a hop count ("1") or addresses/CIDRs (src/server/client-address.ts).
  TRUST_PROXY: optionalString.superRefine((value, ctx) => {
    try {
      parseTrustProxy(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
    }
  }),
  // Outgoing email (src/email): SMTP_URL, or SMTP_HOST with the rest. Unset: links go to the server log.
  SMTP_URL: optionalString.pipe(z.url().optional()),
  SMTP_HOST: optionalString,
  SMTP_PORT: optionalString.pipe(z.coerce.number<string | undefined>().int().min(1).max(65535).optional()),
  SMTP_USER: optionalString,
  SMTP_PASSWORD: optionalString,
  SMTP_SECURE: optionalString.pipe(z.enum(["true", "false"]).optional()),
  EMAIL_FROM: optionalString,
});

export type ServerEnv = z.infer<typeof serverEnvSchema>;

let cached: ServerEnv | undefined;

/** Parsed once; a bad value stops the server at start with a message naming the variable. */
export function getServerEnv(): ServerEnv {
  if (cached) return cached;
  const parsed = serverEnvSchema.safeParse(process.env);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
      .join("; ");
    throw new Error(`Invalid environment configuration: ${problems}`);
  }
  const env = parsed.data;
  if (env.STRIPE_SECRET_KEY && !env.STRIPE_WEBHOOK_SECRET) {
    throw new Error(
      "Invalid environment configuration: STRIPE_WEBHOOK_SECRET is required when STRIPE_SECRET_KEY is set",
    );
  }
  cached = env;
  return env;
}

export function adminEmails(env: ServerEnv = getServerEnv()): Set<string> {
  return new Set(
    (env.ADMIN_EMAILS ?? "")
      .split(",")
      .map((email) => email.trim().toLowerCase())
      .filter(Boolean),
  );
}

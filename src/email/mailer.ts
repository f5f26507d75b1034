import nodemailer, { type Transporter } from "nodemailer";
import { getServerEnv, type ServerEnv } from "@/config/env";
import { processSlot } from "@/lib/process-registry";

/** A message ready to send: one template's output plus its recipient. */
export type OutgoingEmail = {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** A Message-ID to send with (`<id@domain>`): stable across retries, so a duplicate can be recognised. */
  messageId?: string;
};

type Holder = { transporter?: Transporter | null };
// One transport (and its connection pool) per process (src/lib/process-registry.ts).
const holder = processSlot<Holder>("mailer", () => ({}));

/** Bounds every SMTP wait, so a mail server that hangs never holds a sign-up for long. */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 15_000 };

/** Whether SMTP is configured (SMTP_URL or SMTP_HOST); without it the app's emails go to the server log. */
export function isMailConfigured(env: ServerEnv = getServerEnv()): boolean {
  return Boolean(env.SMTP_URL || env.SMTP_HOST);
}

/**
 * The sender: EMAIL_FROM, which the configuration check requires whenever SMTP is configured (a guessed
 * sender is refused by most mail servers, and the sign-up would then look fine while nothing arrives).
 * The fallback only serves a process that skipped that check (a test calling sendEmail directly).
 */
export function emailFrom(env: ServerEnv = getServerEnv()): string {
  if (env.EMAIL_FROM) return env.EMAIL_FROM;
  const host = env.BETTER_AUTH_URL ? new URL(env.BETTER_AUTH_URL).hostname : "localhost";
  return `creditkit <no-reply@${host}>`;
}

function createTransporter(env: ServerEnv): Transporter | null {
  if (env.SMTP_URL) return nodemailer.createTransport({ url: env.SMTP_URL, ...TIMEOUTS });
  if (!env.SMTP_HOST) return null;
  const secure = env.SMTP_SECURE === "true";
  return nodemailer.createTransport({
    host: env.SMTP_HOST,
    // 465 is SMTP over TLS; 587 (submission) upgrades with STARTTLS when the server offers it.
    port: env.SMTP_PORT ?? (secure ? 465 : 587),
    secure,
    ...(env.SMTP_USER ? { auth: { user: env.SMTP_USER, pass: env.SMTP_PASSWORD ?? "" } } : {}),
    ...TIMEOUTS,
  });
}

/**
 * Sends one email through the configured SMTP server (nodemailer). Resolves with the server's message
 * id; rejects when the server cannot be reached or refuses the message — callers decide whether that
 * may fail their request (a sign-up must not).
 * @throws Error when SMTP is not configured (check {@link isMailConfigured} first).
 */
export async function sendEmail(message: OutgoingEmail): Promise<{ messageId: string }> {
  const env = getServerEnv();
  if (holder.transporter === undefined) holder.transporter = createTransporter(env);
  if (!holder.transporter) throw new Error("SMTP is not configured (set SMTP_URL or SMTP_HOST)");
  const info = await holder.transporter.sendMail({ from: emailFrom(env), ...message });
  return { messageId: String(info.messageId) };
}

/** Lets tests point the next email at another SMTP server. */
export function resetMailer(): void {
  holder.transporter?.close();
  holder.transporter = undefined;
}

import { verificationLinks } from "@/auth/verification-links";
import { logger } from "@/lib/logger";
import { emailLocale } from "./locale";
import { isMailConfigured, sendEmail } from "./mailer";
import { setPasswordMessage } from "./templates/set-password";
import { verifyEmailMessage } from "./templates/verify-email";

/** The links Better Auth asks the app to deliver, each with its emitter event, message and log lines. */
const AUTH_LINKS = {
  "verify-email": {
    event: "link",
    message: verifyEmailMessage,
    logged: "email verification link (no SMTP configured, so it is not emailed; open it to verify)",
    sent: "email verification link sent",
    failed: "email verification link could not be sent; the user can ask for a new one from the credits page",
  },
  "set-password": {
    event: "password-link",
    message: setPasswordMessage,
    logged: "set-password link (no SMTP configured, so it is not emailed; open it to set the password)",
    sent: "set-password link sent",
    failed: "set-password link could not be sent; the user can ask again",
  },
} as const;

export type AuthLinkKind = keyof typeof AUTH_LINKS;

/**
 * Delivers one of Better Auth's links (email verification, set-password / password reset): by email when
 * SMTP is configured, otherwise to the server log at warn level (so a developer sees it even at
 * LOG_LEVEL=warn) — and always on the in-process `verificationLinks` emitter (`link`, `password-link`).
 *
 * The message's language is the locale of the page the link leads back to (`callbackURL`, which the forms
 * set to a localized page), else of the page the request came from (Referer), else English.
 *
 * Never throws: a mail server that is down or refuses the message is logged at error level and the request
 * that asked for the link still succeeds; the user can ask for a new link.
 */
export async function sendAuthLink(
  kind: AuthLinkKind,
  input: { user: { id: string; email: string; name: string }; url: string; request?: Request | undefined },
): Promise<void> {
  const link = AUTH_LINKS[kind];
  const { user, url } = input;
  verificationLinks.emit(link.event, { userId: user.id, email: user.email, url });
  if (!isMailConfigured()) {
    logger.warn({ userId: user.id, email: user.email, url }, link.logged);
    return;
  }
  let callbackURL: string | null = null;
  try {
    callbackURL = new URL(url).searchParams.get("callbackURL");
  } catch {
    // Better Auth always builds an absolute URL; a malformed one simply gives no locale hint.
  }
  const locale = emailLocale(callbackURL, input.request?.headers.get("referer"));
  try {
    const { messageId } = await sendEmail({
      to: user.email,
      ...link.message({ name: user.name, url, locale }),
    });
    logger.info({ userId: user.id, messageId, locale }, link.sent);
  } catch (error) {
    logger.error({ err: error, userId: user.id }, link.failed);
  }
}

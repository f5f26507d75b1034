import { verificationLinks } from "@/auth/verification-links";
import { logger } from "@/lib/logger";
import { emailLocale } from "./locale";
import { isMailConfigured, sendEmail } from "./mailer";
import { verifyEmailMessage } from "./templates/verify-email";

/**
 * Delivers Better Auth's email-verification link: by email when SMTP is configured, otherwise to the
 * server log at warn level (so a developer sees it even at LOG_LEVEL=warn) — and always on the in-process
 * `verificationLinks` emitter.
 *
 * The message's language is the locale of the page the link leads back to (`callbackURL`, which the
 * sign-up form and the resend button set to a localized page), else of the page the request came from
 * (Referer), else English.
 *
 * Never throws: a mail server that is down or refuses the message is logged at error level, and the
 * sign-up (or resend) still succeeds; the user can ask for a new link from the credits page.
 */
export async function sendVerificationLink(input: {
  user: { id: string; email: string; name: string };
  url: string;
  request?: Request | undefined;
}): Promise<void> {
  const { user, url } = input;
  verificationLinks.emit("link", { userId: user.id, email: user.email, url });
  if (!isMailConfigured()) {
    logger.warn(
      { userId: user.id, email: user.email, url },
      "email verification link (no SMTP configured, so it is not emailed; open it to verify)",
    );
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
      ...verifyEmailMessage({ name: user.name, url, locale }),
    });
    logger.info({ userId: user.id, messageId, locale }, "email verification link sent");
  } catch (error) {
    logger.error(
      { err: error, userId: user.id },
      "email verification link could not be sent; the user can ask for a new one from the credits page",
    );
  }
}

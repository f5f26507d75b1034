import { verificationLinks } from "@/auth/verification-links";
import { logger } from "@/lib/logger";
import { emailLocale } from "./locale";
import { isMailConfigured, sendEmail } from "./mailer";
import { setPasswordMessage } from "./templates/set-password";

/**
 * Delivers Better Auth's set-password (password-reset) link: by email when SMTP is configured, otherwise
 * to the server log at warn level — and always on the in-process `verificationLinks` emitter
 * (`password-link`). The language is the locale of the page the link leads to (`callbackURL`), else of
 * the page the request came from, else English.
 *
 * Never throws: a mail server that is down is logged at error level and the user can ask again.
 */
export async function sendPasswordLink(input: {
  user: { id: string; email: string; name: string };
  url: string;
  request?: Request | undefined;
}): Promise<void> {
  const { user, url } = input;
  verificationLinks.emit("password-link", { userId: user.id, email: user.email, url });
  if (!isMailConfigured()) {
    logger.warn(
      { userId: user.id, email: user.email, url },
      "set-password link (no SMTP configured, so it is not emailed; open it to set the password)",
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
      ...setPasswordMessage({ name: user.name, url, locale }),
    });
    logger.info({ userId: user.id, messageId, locale }, "set-password link sent");
  } catch (error) {
    logger.error(
      { err: error, userId: user.id },
      "set-password link could not be sent; the user can ask again",
    );
  }
}

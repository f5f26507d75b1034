import type { AppLocale } from "@/i18n/routing";
import { escapeHtml } from "../escape-html";

/** The words of a message that asks the reader to open one link, in one locale. */
export type LinkMessageCopy = {
  subject: string;
  greeting: (name: string) => string;
  body: string;
  button: string;
  /** What to know about the link (how long it is valid, what to do when it was not asked for). */
  expiry: string;
};

/**
 * A message whose point is one link (verify an address, set a password): greeting, sentence, button, the
 * link written out for mail clients that hide buttons, and a note; as plain text and as HTML (every
 * value escaped), in the given locale.
 */
export function linkMessage(copy: LinkMessageCopy, input: { name: string; url: string; locale: AppLocale }) {
  const name = input.name.trim();
  const text = [copy.greeting(name), "", copy.body, input.url, "", copy.expiry, ""].join("\n");
  const html = `<!doctype html>
<html lang="${input.locale}">
  <body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #111;">
    <p>${escapeHtml(copy.greeting(name))}</p>
    <p>${escapeHtml(copy.body)}</p>
    <p><a href="${escapeHtml(input.url)}" style="display: inline-block; padding: 8px 16px; background: #111; color: #fff; border-radius: 6px; text-decoration: none;">${escapeHtml(copy.button)}</a></p>
    <p style="word-break: break-all; color: #555; font-size: 13px;">${escapeHtml(input.url)}</p>
    <p style="color: #555; font-size: 13px;">${escapeHtml(copy.expiry)}</p>
  </body>
</html>
`;
  return { subject: copy.subject, text, html };
}

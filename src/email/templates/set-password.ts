import type { AppLocale } from "@/i18n/routing";
import { escapeHtml } from "../escape-html";

/** The words of the message per locale; the link and the name are filled in below. */
const COPY = {
  en: {
    subject: "Set your creditkit password",
    greeting: (name: string) => (name ? `Hi ${name},` : "Hi,"),
    body: "Open this link to set the password of your creditkit account:",
    button: "Set password",
    expiry:
      "The link is valid for one hour. Setting the password signs out every other session. If you did not ask for this, you can ignore this email.",
  },
  zh: {
    subject: "设置你的 creditkit 密码",
    greeting: (name: string) => (name ? `${name}，你好：` : "你好："),
    body: "打开以下链接，为你的 creditkit 账户设置密码：",
    button: "设置密码",
    expiry: "链接在一小时内有效。设置密码后，其他所有登录都会退出。如果不是你本人的操作，请忽略这封邮件。",
  },
} satisfies Record<AppLocale, unknown>;

/**
 * The set-password message (Better Auth's password-reset link, valid for its default hour), as plain text
 * and HTML, in the user's locale. Sent when a user asks for it, and by the app itself when an
 * ADMIN_EMAILS address is verified (src/auth/admin-mailbox.ts).
 */
export function setPasswordMessage(input: { name: string; url: string; locale: AppLocale }) {
  const copy = COPY[input.locale];
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

import type { AppLocale } from "@/i18n/routing";
import { type LinkMessageCopy, linkMessage } from "./link-message";

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
} satisfies Record<AppLocale, LinkMessageCopy>;

/**
 * The set-password message (Better Auth's password-reset link, valid for its default hour), as plain text
 * and HTML, in the user's locale. Sent when a user asks for it, and by the app itself when an
 * ADMIN_EMAILS address is verified (src/auth/admin-mailbox.ts).
 */
export function setPasswordMessage(input: { name: string; url: string; locale: AppLocale }) {
  return linkMessage(COPY[input.locale], input);
}

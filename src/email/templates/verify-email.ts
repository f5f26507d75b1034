import type { AppLocale } from "@/i18n/routing";
import { type LinkMessageCopy, linkMessage } from "./link-message";

/** The words of the message per locale; the link and the name are filled in below. */
const COPY = {
  en: {
    subject: "Verify your email address",
    greeting: (name: string) => (name ? `Hi ${name},` : "Hi,"),
    body: "Open this link to verify your email address for creditkit:",
    button: "Verify email address",
    expiry: "The link is valid for one hour. If you did not sign up, you can ignore this email.",
  },
  zh: {
    subject: "验证你的邮箱地址",
    greeting: (name: string) => (name ? `${name}，你好：` : "你好："),
    body: "打开以下链接，验证你在 creditkit 使用的邮箱地址：",
    button: "验证邮箱地址",
    expiry: "链接在一小时内有效。如果你没有注册过，请忽略这封邮件。",
  },
} satisfies Record<AppLocale, LinkMessageCopy>;

/**
 * The email-verification message (Better Auth's link, valid for its default hour), as plain text and
 * HTML, in the user's locale.
 */
export function verifyEmailMessage(input: { name: string; url: string; locale: AppLocale }) {
  return linkMessage(COPY[input.locale], input);
}

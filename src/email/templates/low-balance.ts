import type { AppLocale } from "@/i18n/routing";
import { escapeHtml } from "../escape-html";

type LowBalanceCopy = {
  subject: string;
  greeting: (name: string) => string;
  body: (available: string, threshold: string) => string;
  percentNote: (percent: number) => string;
  button: string;
  footer: string;
};

/** The words of the message per locale; numbers are formatted in the same locale. */
const COPY = {
  en: {
    subject: "Your credit balance is low",
    greeting: (name) => (name ? `Hi ${name},` : "Hi,"),
    body: (available, threshold) =>
      `Your available balance is ${available} credits, below the alert threshold of ${threshold} credits you set.`,
    percentNote: (percent) => `(Your threshold is ${percent}% of your plan's monthly credits.)`,
    button: "Buy credits",
    footer:
      "You get this email once each time your balance falls below the threshold. Change or turn off the alert on your credits page.",
  },
  zh: {
    subject: "你的积分余额不足",
    greeting: (name) => (name ? `${name}，你好：` : "你好："),
    body: (available, threshold) =>
      `你的可用余额为 ${available} 积分，已低于你设置的提醒阈值 ${threshold} 积分。`,
    percentNote: (percent) => `（你的阈值为当前套餐每月积分的 ${percent}%。）`,
    button: "购买积分",
    footer: "每次余额跌破阈值时，你会收到一封这样的邮件。可在积分页面修改或关闭此提醒。",
  },
} satisfies Record<AppLocale, LowBalanceCopy>;

/**
 * The low-balance alert email, as plain text and HTML (every value escaped), in the account's locale:
 * the available balance and the threshold it fell below (credits), the percentage when the threshold was
 * set as one, and a link to the credits page.
 */
export function lowBalanceMessage(input: {
  name: string;
  locale: AppLocale;
  available: number;
  threshold: number;
  percent: number | null;
  creditsUrl: string;
}) {
  const copy: LowBalanceCopy = COPY[input.locale];
  const number = new Intl.NumberFormat(input.locale === "zh" ? "zh-CN" : "en-US");
  const name = input.name.trim();
  const body = copy.body(number.format(input.available), number.format(input.threshold));
  const note = input.percent === null ? null : copy.percentNote(input.percent);
  const text = [
    copy.greeting(name),
    "",
    body,
    ...(note ? [note] : []),
    "",
    input.creditsUrl,
    "",
    copy.footer,
    "",
  ].join("\n");
  const html = `<!doctype html>
<html lang="${input.locale}">
  <body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #111;">
    <p>${escapeHtml(copy.greeting(name))}</p>
    <p>${escapeHtml(body)}</p>
    ${note ? `<p>${escapeHtml(note)}</p>` : ""}
    <p><a href="${escapeHtml(input.creditsUrl)}" style="display: inline-block; padding: 8px 16px; background: #111; color: #fff; border-radius: 6px; text-decoration: none;">${escapeHtml(copy.button)}</a></p>
    <p style="color: #555; font-size: 13px;">${escapeHtml(copy.footer)}</p>
  </body>
</html>
`;
  return { subject: copy.subject, text, html };
}

import { formatMoney } from "@/catalog/format-money";
import type { AppLocale } from "@/i18n/routing";
import { escapeHtml } from "../escape-html";

type Copy = {
  greeting: (name: string) => string;
  actionSubject: string;
  actionBody: (amount: string, card: string) => string;
  actionButton: string;
  failedSubject: string;
  disabledSubject: string;
  failedBody: (amount: string, card: string) => string;
  reason: (code: string) => string;
  disabledNote: string;
  failedButton: string;
  card: (last4: string | null) => string;
  footer: string;
};

const COPY = {
  en: {
    greeting: (name) => (name ? `Hi ${name},` : "Hi,"),
    actionSubject: "Confirm your credit top-up",
    actionBody: (amount, card) =>
      `Your balance fell below your auto top-up threshold, and your bank asks you to confirm the ${amount} payment with ${card}. Open your credits page to complete it; nothing is charged until you do.`,
    actionButton: "Complete the payment",
    failedSubject: "Your credit top-up failed",
    disabledSubject: "Auto top-up is off: your card was declined three times",
    failedBody: (amount, card) => `The automatic ${amount} top-up with ${card} was declined.`,
    reason: (code) => `Reason: ${code.replaceAll("_", " ")}.`,
    disabledNote:
      "This was the third decline in a row, so auto top-up has turned itself off. Save another card and turn it on again on your credits page.",
    failedButton: "Check your card",
    card: (last4) => (last4 ? `the card ending in ${last4}` : "your saved card"),
    footer: "You get this email because auto top-up is set on your credits page.",
  },
  zh: {
    greeting: (name) => (name ? `${name}，你好：` : "你好："),
    actionSubject: "请确认你的积分自动充值",
    actionBody: (amount, card) =>
      `你的余额已低于自动充值阈值，银行要求你确认使用${card}支付 ${amount}。请打开积分页面完成支付；完成之前不会扣款。`,
    actionButton: "完成支付",
    failedSubject: "积分自动充值失败",
    disabledSubject: "自动充值已关闭：你的卡连续三次被拒",
    failedBody: (amount, card) => `使用${card}自动充值 ${amount} 被拒绝。`,
    reason: (code) => `原因：${code.replaceAll("_", " ")}。`,
    disabledNote: "这是连续第三次被拒，自动充值已自动关闭。请在积分页面保存另一张卡并重新开启。",
    failedButton: "检查你的卡",
    card: (last4) => (last4 ? `尾号 ${last4} 的卡` : "你保存的卡"),
    footer: "你收到这封邮件，是因为你在积分页面开启了自动充值。",
  },
} satisfies Record<AppLocale, Copy>;

export type AutoTopUpEmailInput = {
  kind: "auto_top_up_action_required" | "auto_top_up_failed";
  name: string;
  locale: AppLocale;
  /** Minor units of `currency`. */
  amount: number;
  currency: string;
  last4: string | null;
  declineCode: string | null;
  /** This decline turned auto top-up off (the third in a row). */
  disabled: boolean;
  creditsUrl: string;
};

/**
 * The auto top-up emails, as plain text and HTML (every value escaped), in the setting's locale: a payment
 * that waits for the cardholder to authenticate (a link to the credits page, where it is completed), or a
 * declined top-up (the reason, and whether it turned auto top-up off).
 */
export function autoTopUpMessage(input: AutoTopUpEmailInput) {
  const copy: Copy = COPY[input.locale];
  const amount = formatMoney(
    { amount: input.amount, currency: input.currency },
    input.locale === "zh" ? "zh-CN" : "en-US",
  );
  const card = copy.card(input.last4);
  const name = input.name.trim();
  const action = input.kind === "auto_top_up_action_required";
  const subject = action ? copy.actionSubject : input.disabled ? copy.disabledSubject : copy.failedSubject;
  const paragraphs = action
    ? [copy.actionBody(amount, card)]
    : [
        copy.failedBody(amount, card),
        ...(input.declineCode ? [copy.reason(input.declineCode)] : []),
        ...(input.disabled ? [copy.disabledNote] : []),
      ];
  const button = action ? copy.actionButton : copy.failedButton;
  const text = [copy.greeting(name), "", ...paragraphs, "", input.creditsUrl, "", copy.footer, ""].join("\n");
  const html = `<!doctype html>
<html lang="${input.locale}">
  <body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #111;">
    <p>${escapeHtml(copy.greeting(name))}</p>
    ${paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`).join("\n    ")}
    <p><a href="${escapeHtml(input.creditsUrl)}" style="display: inline-block; padding: 8px 16px; background: #111; color: #fff; border-radius: 6px; text-decoration: none;">${escapeHtml(button)}</a></p>
    <p style="color: #555; font-size: 13px;">${escapeHtml(copy.footer)}</p>
  </body>
</html>
`;
  return { subject, text, html };
}

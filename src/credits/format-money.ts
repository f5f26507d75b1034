import type { Money } from "./packages";

/**
 * Formats integer minor units for a locale. The number of fraction digits comes from the currency
 * itself (Intl knows USD has 2 and JPY has 0), so 999 USD cents reads $9.99 and 999 JPY reads ¥999.
 */
export function formatMoney(money: Money, locale: string): string {
  const currency = money.currency.toUpperCase();
  const formatter = new Intl.NumberFormat(locale, { style: "currency", currency });
  const digits = formatter.resolvedOptions().maximumFractionDigits ?? 2;
  return formatter.format(money.amount / 10 ** digits);
}

import { currencyRule, formatAmountText } from "./currencies";
import type { Money } from "./packages";

/**
 * Formats integer minor units for a locale. How many decimals an amount has comes from Stripe's currency
 * table (src/catalog/currencies.ts), not from Intl, which disagrees for some currencies: an ISK amount of
 * 100 is 1 króna in Stripe's API, where Intl would read it as 100. So 999 USD reads $9.99, 999 JPY ¥999,
 * 50000 ISK ISK 500, 1045 HUF HUF 10.45 and 1230 KWD KWD 1.230. Intl still decides symbols, grouping and
 * the decimal separator for the locale. The amount is handed to Intl as an exact decimal text, so no
 * floating-point division can round it.
 */
export function formatMoney(money: Money, locale: string): string {
  const rule = currencyRule(money.currency);
  const formatter = new Intl.NumberFormat(locale, {
    style: "currency",
    currency: money.currency.toUpperCase(),
    minimumFractionDigits: rule.exponent,
    maximumFractionDigits: rule.exponent,
    // ISK 500, not ISK 500.00; a fraction, where one exists, shows in full (ISK 10.50).
    trailingZeroDisplay: rule.wholeUnitsUsual ? "stripIfInteger" : "auto",
  });
  return formatter.format(formatAmountText(money) as Intl.StringNumericLiteral);
}

/**
 * Stripe's currency table: how many decimals an amount has in Stripe's API, which amounts Stripe accepts,
 * and how an amount is shown. Intl (CLDR) answers a different question (how many decimals people write)
 * and disagrees with Stripe for several currencies: it gives ISK, UGX and HUF no decimals, while Stripe's
 * API keeps two (an ISK amount of 100 is 1 króna). Every conversion between minor units and text goes
 * through this module, never through Intl's digit count.
 *
 * Source: Stripe, "Supported currencies" (https://docs.stripe.com/currencies), sections "Zero-decimal
 * currencies", "Three-decimal currencies", "Special cases" and "Minimum and maximum charge amounts".
 */

export type CurrencyRule = {
  /** Decimals of an amount in Stripe's API: 1000 is 10.00 USD, ¥1000, 1.000 KWD. */
  exponent: 0 | 2 | 3;
  /** Every amount sent to Stripe (a charge, a refund) must be a multiple of this many minor units. */
  step: 1 | 10 | 100;
  /** Whole units are the norm (ISK, UGX, HUF, TWD): a price shows its decimals only when it has a fraction. */
  wholeUnitsUsual: boolean;
  /** Which part of Stripe's table the rule comes from, for messages and docs. */
  kind: "two-decimal" | "zero-decimal" | "three-decimal" | "special";
};

/** "For zero-decimal currencies, still provide amounts as an integer but without multiplying by 100." */
const ZERO_DECIMAL = [
  "bif",
  "clp",
  "djf",
  "gnf",
  "jpy",
  "kmf",
  "krw",
  "mga",
  "pyg",
  "rwf",
  "vnd",
  "vuv",
  "xaf",
  "xof",
  "xpf",
] as const;

/**
 * "The API supports three-decimal currencies for the standard payment flows, including Payment Intents,
 * Refunds, and Disputes. However, ... these API calls require the least-significant (last) digit to be 0."
 */
const THREE_DECIMAL = ["bhd", "jod", "kwd", "omr", "tnd"] as const;

/**
 * Stripe's special cases. Stripe also lists UGX among the zero-decimal currencies, but its special case
 * is what the API does, so it is here.
 * - ISK, UGX: "transitioned to a zero-decimal currency, but backward compatibility requires you to
 *   represent it as a two-decimal value, where the decimal amount is always 00 ... You can't charge
 *   fractions." An amount is a multiple of 100 (charges and refunds alike); prices show whole units.
 * - HUF, TWD: "Stripe treats HUF [TWD] as a zero-decimal currency for payouts, even though you can charge
 *   two-decimal amounts." Charges and refunds take two decimals; whole units are the norm, so a price
 *   shows its fraction only when it has one. (Payouts, which must be whole units, are not made here.)
 */
const SPECIAL: Record<string, CurrencyRule> = {
  isk: { exponent: 2, step: 100, wholeUnitsUsual: true, kind: "special" },
  ugx: { exponent: 2, step: 100, wholeUnitsUsual: true, kind: "special" },
  huf: { exponent: 2, step: 1, wholeUnitsUsual: true, kind: "special" },
  twd: { exponent: 2, step: 1, wholeUnitsUsual: true, kind: "special" },
};

const TWO_DECIMAL: CurrencyRule = { exponent: 2, step: 1, wholeUnitsUsual: false, kind: "two-decimal" };

/** Stripe's rule for a currency (ISO 4217 code, any case). Unlisted currencies are two-decimal. */
export function currencyRule(currency: string): CurrencyRule {
  const code = currency.toLowerCase();
  const special = SPECIAL[code];
  if (special) return special;
  if ((ZERO_DECIMAL as readonly string[]).includes(code))
    return { exponent: 0, step: 1, wholeUnitsUsual: false, kind: "zero-decimal" };
  if ((THREE_DECIMAL as readonly string[]).includes(code))
    return { exponent: 3, step: 10, wholeUnitsUsual: false, kind: "three-decimal" };
  return TWO_DECIMAL;
}

/**
 * Stripe's minimum charge per settlement currency, in minor units ("Minimum and maximum charge amounts").
 * It applies to a price in the same currency; a price that Stripe converts must meet the settlement
 * currency's minimum after conversion, which cannot be known here.
 */
const MINIMUM_CHARGE: Record<string, number> = {
  usd: 50,
  aed: 200,
  aud: 50,
  bgn: 100,
  brl: 50,
  cad: 50,
  chf: 50,
  czk: 1500,
  dkk: 250,
  eur: 50,
  gbp: 30,
  hkd: 400,
  huf: 17500,
  inr: 50,
  jpy: 50,
  mxn: 1000,
  myr: 200,
  nok: 300,
  nzd: 50,
  pln: 200,
  ron: 200,
  sek: 300,
  sgd: 50,
  thb: 1000,
};

/** "Up to 12 digits for IDR, 10 for COP, 9 for INR, 8 for all other currencies" (non-card methods). */
const MAX_DIGITS: Record<string, number> = { idr: 12, cop: 10, inr: 9 };

export type MinorUnits = { amount: number; currency: string };

/** The nearest amounts Stripe accepts on either side of one it refuses. */
function neighbours(amount: number, step: number): { lower: number; higher: number } {
  const lower = Math.floor(amount / step) * step;
  return { lower, higher: lower + step };
}

/**
 * Why Stripe would refuse this amount in a charge or refund, or null if it accepts it: a positive whole
 * number of minor units, a multiple of the currency's step (10 for three-decimal currencies, 100 for ISK
 * and UGX), and within the API's digit limit.
 */
export function stripeAmountProblem(money: MinorUnits): string | null {
  const { amount } = money;
  const code = money.currency.toUpperCase();
  if (!Number.isSafeInteger(amount) || amount <= 0)
    return "an amount must be a positive whole number of minor units";
  const rule = currencyRule(money.currency);
  if (amount % rule.step !== 0) {
    const { lower, higher } = neighbours(amount, rule.step);
    const what =
      rule.step === 100
        ? `whole units of ${code} (Stripe refuses fractions)`
        : `multiples of ${formatAmountText({ amount: rule.step, currency: code })} ${code} (the last digit of a ${code} amount must be 0)`;
    const options = [lower, higher]
      .filter((value) => value > 0)
      .map((value) => `${formatAmountText({ amount: value, currency: code })}`);
    return `${code} amounts go in ${what}: ${formatAmountText(money)} is not one; use ${options.join(" or ")}`;
  }
  const maxDigits = MAX_DIGITS[money.currency.toLowerCase()] ?? 8;
  if (String(amount).length > maxDigits)
    return `Stripe accepts at most ${maxDigits} digits of minor units in ${code}`;
  return null;
}

/** As stripeAmountProblem, plus Stripe's minimum charge for the currency: for prices. */
export function stripeChargeProblem(money: MinorUnits): string | null {
  const problem = stripeAmountProblem(money);
  if (problem) return problem;
  const minimum = MINIMUM_CHARGE[money.currency.toLowerCase()];
  if (minimum !== undefined && money.amount < minimum) {
    const code = money.currency.toUpperCase();
    return `Stripe's minimum charge in ${code} is ${formatAmountText({ amount: minimum, currency: code })} ${code}`;
  }
  return null;
}

/**
 * Minor units as a plain decimal text in major units, without floating point and without a currency
 * sign: 999 USD → "9.99", 100000 ISK → "1000", 1045 HUF → "10.45", 1230 KWD → "1.230". Whole-unit
 * currencies (ISK, UGX, HUF, TWD) drop a zero fraction. Fit for an input field and for Intl's exact
 * decimal formatting.
 */
export function formatAmountText(money: MinorUnits): string {
  const rule = currencyRule(money.currency);
  const negative = money.amount < 0;
  const digits = String(Math.abs(money.amount)).padStart(rule.exponent + 1, "0");
  const whole = digits.slice(0, digits.length - rule.exponent);
  let fraction = digits.slice(digits.length - rule.exponent);
  if (rule.wholeUnitsUsual && /^0*$/.test(fraction)) fraction = "";
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

export type ParsedAmount =
  | { ok: true; amount: number }
  | { ok: false; reason: "format" }
  /** More decimals than the currency has in Stripe's API. */
  | { ok: false; reason: "decimals"; decimals: number }
  /** Not a multiple of the currency's step; `lower` and `higher` (minor units) are the nearest it accepts. */
  | { ok: false; reason: "step"; step: number; lower: number; higher: number; message: string };

/**
 * Parses an amount an operator typed in major units ("4.5", "4,50", "1000") into minor units, without
 * floating point. Refused: anything but digits with one decimal separator; more decimals than the
 * currency has in Stripe's API (as written, trailing zeros too: "1,000" is not 1.00 USD); an amount
 * Stripe would refuse (an ISK or UGX fraction, a KWD amount whose last digit is not 0), with the
 * nearest amounts Stripe accepts.
 */
export function parseAmountText(text: string, currency: string): ParsedAmount {
  const rule = currencyRule(currency);
  const match = /^(\d{1,12})(?:[.,](\d*))?$/.exec(text.trim());
  if (!match) return { ok: false, reason: "format" };
  // Counted as written, trailing zeros included: "1,000" or "10.000" typed for USD is more likely a
  // thousands separator (1000) than 1.00 or 10.00, and guessing would refund a different amount.
  const fraction = match[2] ?? "";
  if (fraction.length > rule.exponent) return { ok: false, reason: "decimals", decimals: rule.exponent };
  const amount = Number(match[1]) * 10 ** rule.exponent + Number(fraction.padEnd(rule.exponent, "0") || "0");
  if (!Number.isSafeInteger(amount)) return { ok: false, reason: "format" };
  if (amount % rule.step !== 0) {
    const { lower, higher } = neighbours(amount, rule.step);
    const message = stripeAmountProblem({ amount, currency }) ?? "";
    return { ok: false, reason: "step", step: rule.step, lower, higher, message };
  }
  return { ok: true, amount };
}

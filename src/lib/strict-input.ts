/**
 * Strict parsing of text that arrives outside a JSON body: environment variables and command-line
 * options. `Number()` and `parseInt()` accept "0x10", "1e3", " 7 " and "" (as 16, 1000, 7 and 0), so a
 * typo becomes a different amount instead of an error; here only plain decimal digits are a number.
 */

import { z } from "zod";

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * A whole number written in plain decimal digits (no sign, exponent, hex, separators or spaces), within
 * `min`..`max` inclusive. Both bounds must be safe integers.
 */
export function parseDecimalInteger(text: string, bounds: { min: number; max: number }): Parsed<number> {
  const expected = `a whole number from ${bounds.min} to ${bounds.max} in decimal digits`;
  if (!/^[0-9]+$/.test(text)) return { ok: false, reason: `must be ${expected}, got ${quote(text)}` };
  // Past 16 digits the value is beyond any bound we use; Number() would round it silently.
  const value = text.length > 16 ? Number.POSITIVE_INFINITY : Number(text);
  if (value < bounds.min || value > bounds.max) {
    return { ok: false, reason: `must be ${expected}, got ${quote(text)}` };
  }
  return { ok: true, value };
}

/**
 * A query-string integer (`?limit=20`): strictly decimal digits within `min`..`max` (see
 * parseDecimalInteger), so `1e2`, ` 10`, `0x10`, `10.0` and `+5` are refused with 400 invalid_input
 * instead of being read as another number; absent means `fallback`. `z.coerce.number()` would accept
 * them all, because it runs `Number()`.
 */
export function queryIntegerSchema(bounds: { min: number; max: number }, fallback: number) {
  return z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return fallback;
      const parsed = parseDecimalInteger(text, bounds);
      if (parsed.ok) return parsed.value;
      ctx.addIssue({ code: "custom", message: parsed.reason });
      return z.NEVER;
    });
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why PostgreSQL could not store this text, or null when it can. A text value may not contain U+0000,
 * and must be well-formed Unicode (an unpaired surrogate has no UTF-8 encoding): the same rule the HTTP
 * API applies to bodies, so an input that will always fail is refused up front instead of failing in SQL.
 */
export function unstorableTextReason(text: string): string | null {
  if (text.includes("\u0000")) return "must not contain NUL characters (U+0000)";
  if (LONE_SURROGATE.test(text)) return "must be well-formed Unicode (it contains an unpaired surrogate)";
  return null;
}

/** Quotes a value for a one-line message: control characters escaped, long values shortened. */
export function quote(text: string): string {
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return JSON.stringify(shown);
}

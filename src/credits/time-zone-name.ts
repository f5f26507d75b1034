import { z } from "zod";

/**
 * The IANA names without a region part ("CET", "EST5EDT", "Japan", "UTC"), each with the region zone the
 * tz database links it to: tzdata's `backward` file (`Link Europe/Brussels CET`, …, as of tzdata 2024b,
 * when CET, CST6CDT, EET, EST, EST5EDT, HST, MET, MST, MST7MDT, PST8PDT and WET became links) and
 * `etcetera` for GMT. Keys are lower case (both the runtime and PostgreSQL read zone names
 * case-insensitively).
 *
 * Why: PostgreSQL reads a zone name first as a time zone abbreviation (the `timezone_abbreviations` set,
 * a fixed offset) and only then as a zone name, so `AT TIME ZONE 'CET'` is UTC+1 all year while the
 * runtime's CET has summer time (UTC+2). A name with a region part ("Europe/Brussels") is never an
 * abbreviation; a name without one is sent as the zone it links to, so both read the same clock.
 */
const LINKED_ZONES: Readonly<Record<string, string>> = {
  cet: "Europe/Brussels",
  cst6cdt: "America/Chicago",
  cuba: "America/Havana",
  eet: "Europe/Athens",
  egypt: "Africa/Cairo",
  eire: "Europe/Dublin",
  est: "America/Panama",
  est5edt: "America/New_York",
  gb: "Europe/London",
  "gb-eire": "Europe/London",
  gmt: "Etc/GMT",
  "gmt+0": "Etc/GMT",
  "gmt-0": "Etc/GMT",
  gmt0: "Etc/GMT",
  greenwich: "Etc/GMT",
  hongkong: "Asia/Hong_Kong",
  hst: "Pacific/Honolulu",
  iceland: "Africa/Abidjan",
  iran: "Asia/Tehran",
  israel: "Asia/Jerusalem",
  jamaica: "America/Jamaica",
  japan: "Asia/Tokyo",
  kwajalein: "Pacific/Kwajalein",
  libya: "Africa/Tripoli",
  met: "Europe/Brussels",
  mst: "America/Phoenix",
  mst7mdt: "America/Denver",
  navajo: "America/Denver",
  nz: "Pacific/Auckland",
  "nz-chat": "Pacific/Chatham",
  poland: "Europe/Warsaw",
  portugal: "Europe/Lisbon",
  prc: "Asia/Shanghai",
  pst8pdt: "America/Los_Angeles",
  roc: "Asia/Taipei",
  rok: "Asia/Seoul",
  singapore: "Asia/Singapore",
  turkey: "Europe/Istanbul",
  uct: "Etc/UTC",
  universal: "Etc/UTC",
  utc: "Etc/UTC",
  "w-su": "Europe/Moscow",
  wet: "Europe/Lisbon",
  zulu: "Etc/UTC",
};

/** The legacy names without a region part that are accepted (lower case), for tests and docs. */
export const LINKED_ZONE_NAMES: readonly string[] = Object.keys(LINKED_ZONES);

/**
 * Whether `name` is a time zone the runtime knows by its IANA name ("Asia/Shanghai", "UTC", "CET") that
 * PostgreSQL reads the same way: a name with a region part, or one of LINKED_ZONES. Only names are taken:
 * PostgreSQL would also read POSIX strings such as "XYZ+3" as zones, and abbreviations such as "CEST" as
 * fixed offsets, which would bucket days by an offset the reader never asked for.
 */
function isIanaTimeZone(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/.test(name)) return false;
  if (!name.includes("/") && !(name.toLowerCase() in LINKED_ZONES)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone name (1-64 characters) that the runtime and PostgreSQL read alike; see isIanaTimeZone. */
export const timeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .refine(isIanaTimeZone, "must be an IANA time zone name, e.g. Asia/Shanghai or UTC");

/**
 * The name to put in SQL (`AT TIME ZONE`) for a name timeZoneSchema accepted: the region zone for a name
 * without a region part (LINKED_ZONES), the name itself otherwise. Every time zone from a user goes
 * through this before it reaches the database.
 */
export function databaseTimeZone(name: string): string {
  return name.includes("/") ? name : (LINKED_ZONES[name.toLowerCase()] ?? name);
}

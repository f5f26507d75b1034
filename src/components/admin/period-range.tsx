"use client";

import { useFormatter } from "next-intl";
import { useTimeZone } from "@/components/format/date-time";

/**
 * A billing period as one localized range ("Nov 30 – Dec 30, 2026"; "2026年11月30日至12月30日"), in the
 * reader's time zone like DateTime. A period not known yet (a checkout never completed) shows "—".
 */
export function PeriodRange({
  start,
  end,
  className,
}: {
  /** ISO 8601, or null when unknown. */
  start: string | null;
  end: string | null;
  className?: string;
}) {
  const format = useFormatter();
  const timeZone = useTimeZone();
  if (!start || !end) return <span className={className}>—</span>;
  return (
    <time dateTime={`${start}/${end}`} className={className}>
      {format.dateTimeRange(new Date(start), new Date(end), { dateStyle: "medium", timeZone })}
    </time>
  );
}

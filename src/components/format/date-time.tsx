"use client";

import { useFormatter } from "next-intl";
import { useSyncExternalStore } from "react";

function subscribeNever(): () => void {
  return () => undefined;
}

/**
 * The reader's time zone. The server renders in UTC and hydration reuses that answer (no mismatch), then
 * React re-renders with the browser's zone: dates end up in the reader's local time either way.
 */
export function useTimeZone(): string {
  return useSyncExternalStore(
    subscribeNever,
    () => Intl.DateTimeFormat().resolvedOptions().timeZone,
    () => "UTC",
  );
}

/** A localized date (and, by default, time) in the reader's time zone. */
export function DateTime({
  value,
  dateStyle = "medium",
  timeStyle = "short",
  className,
}: {
  /** ISO 8601 */
  value: string;
  dateStyle?: Intl.DateTimeFormatOptions["dateStyle"];
  /** null shows the date only. */
  timeStyle?: Intl.DateTimeFormatOptions["timeStyle"] | null;
  className?: string;
}) {
  const format = useFormatter();
  const timeZone = useTimeZone();
  return (
    <time dateTime={value} className={className}>
      {format.dateTime(new Date(value), {
        dateStyle,
        ...(timeStyle ? { timeStyle } : {}),
        timeZone,
      })}
    </time>
  );
}

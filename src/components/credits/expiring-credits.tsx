"use client";

import { useQuery } from "@tanstack/react-query";
import { CalendarClock } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { useTimeZone } from "@/components/format/date-time";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { creditsKeys, type ExpiringCredits, fetchExpiringCredits } from "./credits-api";

/**
 * Credits that expire in the next 30 days, soonest first. Hidden when there are none: most users never
 * see it. It lives under ["credits"], so a purchase or a spend refreshes it with the balance.
 */
export function ExpiringCreditsCard({ initialData }: { initialData: ExpiringCredits | null }) {
  const t = useTranslations("credits");
  const format = useFormatter();
  const timeZone = useTimeZone();
  const query = useQuery({
    queryKey: creditsKeys.expiring,
    queryFn: ({ signal }) => fetchExpiringCredits(signal),
    initialData: initialData ?? undefined,
  });

  const data = query.data;
  if (!data || data.total === 0) return null;

  return (
    <Card className="gap-4" data-testid="expiring-credits" role="region" aria-labelledby="expiring-title">
      <CardHeader>
        <CardTitle id="expiring-title" className="flex items-center gap-2 text-base">
          <CalendarClock className="size-4 text-warning" aria-hidden />
          {t("expiringTitle")}
        </CardTitle>
        <CardDescription>{t("expiringSubtitle", { count: data.total })}</CardDescription>
      </CardHeader>
      <CardContent>
        <ul className="divide-y rounded-lg border">
          {data.lots.map((lot) => (
            <li
              key={lot.lotId}
              data-testid="expiring-lot"
              className="flex items-center justify-between gap-4 px-4 py-2.5 text-sm"
            >
              <span className="font-medium tabular-nums">{t("expiringCredits", { count: lot.credits })}</span>
              <time dateTime={lot.expiresAt} className="text-muted-foreground">
                {t("expiringOn", {
                  date: format.dateTime(new Date(lot.expiresAt), { dateStyle: "medium", timeZone }),
                })}
              </time>
            </li>
          ))}
        </ul>
      </CardContent>
    </Card>
  );
}

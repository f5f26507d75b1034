import { getTranslations, setRequestLocale } from "next-intl/server";
import { isSubscriptionStatus, listSubscriptions } from "@/admin/list-subscriptions";
import { requireAdmin } from "@/auth/require-admin";
import { SubscriptionsTable } from "@/components/admin/subscriptions-table";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { getDb } from "@/db/client";
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from "@/db/schema";
import { Link } from "@/i18n/navigation";
import { cn } from "@/lib/utils";

type Filter = "all" | SubscriptionStatus;
/** Every status a subscription can have, in the order a subscription lives through them. */
const FILTERS: readonly Filter[] = ["all", ...SUBSCRIPTION_STATUSES];

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ status?: string | string[] }>;
};

export default async function AdminSubscriptionsPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const { status } = await searchParams;
  // As on the purchases page, a link with an unknown status shows everything; the use case itself refuses one.
  const filter: Filter = isSubscriptionStatus(status) ? status : "all";
  const [t, subscriptions] = await Promise.all([
    getTranslations("admin"),
    getDb().then((db) =>
      listSubscriptions(db, { ...(filter === "all" ? {} : { status: filter }), limit: 100 }),
    ),
  ]);

  return (
    <Card className="gap-4">
      <CardHeader>
        <CardTitle className="text-xl tracking-tight">{t("subscriptionsTitle")}</CardTitle>
        <CardDescription>{t("subscriptionsSubtitle")}</CardDescription>
      </CardHeader>
      <CardContent>
        <nav aria-label={t("statusFilter")} className="flex flex-wrap gap-1.5">
          {FILTERS.map((candidate) => {
            const active = candidate === filter;
            return (
              <Link
                key={candidate}
                href={{
                  pathname: "/admin/subscriptions",
                  query: candidate === "all" ? {} : { status: candidate },
                }}
                aria-current={active ? "page" : undefined}
                data-testid={`subscription-filter-${candidate}`}
                className={cn(
                  "whitespace-nowrap rounded-full border px-3 py-1 font-medium text-sm transition-colors hover:bg-accent",
                  active ? "border-primary/40 bg-primary/10 text-foreground" : "text-muted-foreground",
                )}
              >
                {candidate === "all" ? t("statusAll") : t(`subscriptionStatus.${candidate}`)}
              </Link>
            );
          })}
        </nav>
      </CardContent>
      <CardContent className="px-0">
        <SubscriptionsTable subscriptions={subscriptions} />
      </CardContent>
    </Card>
  );
}

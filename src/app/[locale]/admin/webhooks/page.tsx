import { getTranslations, setRequestLocale } from "next-intl/server";
import { listWebhookFailures } from "@/admin/list-webhook-failures";
import { requireAdmin } from "@/auth/require-admin";
import { WebhookFailuresTable } from "@/components/admin/webhook-failures-table";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { getDb } from "@/db/client";
import { Link } from "@/i18n/navigation";
import { cn } from "@/lib/utils";

const FILTERS = ["unresolved", "all"] as const;
type Filter = (typeof FILTERS)[number];

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ show?: string | string[] }>;
};

/** Verified webhook events whose processing failed, with a retry for each once the cause is fixed. */
export default async function AdminWebhookFailuresPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const { show } = await searchParams;
  const filter: Filter = FILTERS.find((candidate) => candidate === show) ?? "unresolved";
  const [t, failures] = await Promise.all([
    getTranslations("admin"),
    getDb().then((db) => listWebhookFailures(db, { includeResolved: filter === "all", limit: 200 })),
  ]);

  return (
    <Card className="gap-4">
      <CardHeader>
        <CardTitle className="text-xl tracking-tight">{t("webhooksTitle")}</CardTitle>
        <CardDescription>{t("webhooksSubtitle")}</CardDescription>
      </CardHeader>
      <CardContent>
        <nav aria-label={t("statusFilter")} className="flex flex-wrap gap-1.5">
          {FILTERS.map((candidate) => {
            const active = candidate === filter;
            return (
              <Link
                key={candidate}
                href={{
                  pathname: "/admin/webhooks",
                  query: candidate === "unresolved" ? {} : { show: candidate },
                }}
                aria-current={active ? "page" : undefined}
                data-testid={`webhook-filter-${candidate}`}
                className={cn(
                  "whitespace-nowrap rounded-full border px-3 py-1 font-medium text-sm transition-colors hover:bg-accent",
                  active ? "border-primary/40 bg-primary/10 text-foreground" : "text-muted-foreground",
                )}
              >
                {candidate === "all" ? t("statusAll") : t("webhookUnresolved")}
              </Link>
            );
          })}
        </nav>
      </CardContent>
      <CardContent className="px-0">
        <WebhookFailuresTable failures={failures} />
      </CardContent>
    </Card>
  );
}

import { getTranslations, setRequestLocale } from "next-intl/server";
import { listPurchases } from "@/admin/list-purchases";
import { requireAdmin } from "@/auth/require-admin";
import { PurchasesTable } from "@/components/admin/purchases-table";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { getDb } from "@/db/client";
import { Link } from "@/i18n/navigation";
import { cn } from "@/lib/utils";

const FILTERS = ["all", "succeeded", "requires_review", "failed", "pending", "abandoned"] as const;
type Filter = (typeof FILTERS)[number];

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ status?: string | string[] }>;
};

export default async function AdminPurchasesPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const { status } = await searchParams;
  const filter: Filter = FILTERS.find((candidate) => candidate === status) ?? "all";
  const [t, purchases] = await Promise.all([
    getTranslations("admin"),
    getDb().then((db) => listPurchases(db, { ...(filter === "all" ? {} : { status: filter }), limit: 100 })),
  ]);

  return (
    <Card className="gap-4">
      <CardHeader>
        <CardTitle className="text-xl tracking-tight">{t("purchasesTitle")}</CardTitle>
        <CardDescription>{t("purchasesSubtitle")}</CardDescription>
      </CardHeader>
      <CardContent>
        <nav aria-label={t("statusFilter")} className="flex flex-wrap gap-1.5">
          {FILTERS.map((candidate) => {
            const active = candidate === filter;
            return (
              <Link
                key={candidate}
                href={{
                  pathname: "/admin/purchases",
                  query: candidate === "all" ? {} : { status: candidate },
                }}
                aria-current={active ? "page" : undefined}
                data-testid={`purchase-filter-${candidate}`}
                className={cn(
                  "whitespace-nowrap rounded-full border px-3 py-1 font-medium text-sm transition-colors hover:bg-accent",
                  active ? "border-primary/40 bg-primary/10 text-foreground" : "text-muted-foreground",
                )}
              >
                {candidate === "all" ? t("statusAll") : t(`purchaseStatus.${candidate}`)}
              </Link>
            );
          })}
        </nav>
      </CardContent>
      <CardContent className="px-0">
        <PurchasesTable purchases={purchases} showCustomer />
      </CardContent>
    </Card>
  );
}

import { getTranslations, setRequestLocale } from "next-intl/server";
import { AUDIT_ACTOR_KINDS, type AuditActorKind, listAuditLog } from "@/admin/list-audit-log";
import { listPurchases } from "@/admin/list-purchases";
import { requireAdmin } from "@/auth/require-admin";
import { AuditTable } from "@/components/admin/audit-table";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { getDb } from "@/db/client";
import { Link } from "@/i18n/navigation";
import { cn } from "@/lib/utils";

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ actor?: string | string[] }>;
};

/** The filters of the page: every entry, or one kind of actor (`?actor=admin|api_key|cli`). */
const FILTERS = ["all", ...AUDIT_ACTOR_KINDS] as const;

export default async function AdminAuditPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const { actor } = await searchParams;
  const actorKind: AuditActorKind | undefined = AUDIT_ACTOR_KINDS.find((kind) => kind === actor);
  const db = await getDb();
  const [t, entries, purchases] = await Promise.all([
    getTranslations("admin"),
    listAuditLog(db, 200, { actorKind }),
    // Refund entries record minor units: the recent purchases give their currency.
    listPurchases(db, { limit: 200 }),
  ]);

  return (
    <Card className="gap-4">
      <CardHeader>
        <CardTitle className="text-xl tracking-tight">{t("auditTitle")}</CardTitle>
        <CardDescription>{t("auditSubtitle")}</CardDescription>
      </CardHeader>
      <CardContent>
        <nav aria-label={t("auditActorFilter")} className="flex flex-wrap gap-1.5">
          {FILTERS.map((candidate) => {
            const active = candidate === (actorKind ?? "all");
            return (
              <Link
                key={candidate}
                href={{ pathname: "/admin/audit", query: candidate === "all" ? {} : { actor: candidate } }}
                aria-current={active ? "page" : undefined}
                data-testid={`audit-filter-${candidate}`}
                className={cn(
                  "whitespace-nowrap rounded-full border px-3 py-1 font-medium text-sm transition-colors hover:bg-accent",
                  active ? "border-primary/40 bg-primary/10 text-foreground" : "text-muted-foreground",
                )}
              >
                {t(`auditActorKinds.${candidate}`)}
              </Link>
            );
          })}
        </nav>
      </CardContent>
      <CardContent className="px-0">
        <AuditTable
          entries={entries}
          showTarget
          currencies={Object.fromEntries(purchases.map((purchase) => [purchase.id, purchase.currency]))}
        />
      </CardContent>
    </Card>
  );
}

import { getTranslations, setRequestLocale } from "next-intl/server";
import { listAuditLog } from "@/admin/list-audit-log";
import { listPurchases } from "@/admin/list-purchases";
import { requireAdmin } from "@/auth/require-admin";
import { AuditTable } from "@/components/admin/audit-table";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { getDb } from "@/db/client";

type PageProps = { params: Promise<{ locale: string }> };

export default async function AdminAuditPage({ params }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const db = await getDb();
  const [t, entries, purchases] = await Promise.all([
    getTranslations("admin"),
    listAuditLog(db, 200),
    // Refund entries record minor units: the recent purchases give their currency.
    listPurchases(db, { limit: 200 }),
  ]);

  return (
    <Card className="gap-4">
      <CardHeader>
        <CardTitle className="text-xl tracking-tight">{t("auditTitle")}</CardTitle>
        <CardDescription>{t("auditSubtitle")}</CardDescription>
      </CardHeader>
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

import { ChevronLeft } from "lucide-react";
import { notFound } from "next/navigation";
import { getTranslations, setRequestLocale } from "next-intl/server";
import type { ReactNode } from "react";
import { getUserOverview, type UserOverview } from "@/admin/get-user-overview";
import { requireAdmin } from "@/auth/require-admin";
import { AdjustCreditsForm } from "@/components/admin/adjust-credits-form";
import { AuditTable } from "@/components/admin/audit-table";
import { BalanceStats } from "@/components/admin/balance-stats";
import { LotsTable } from "@/components/admin/lots-table";
import { PurchasesTable } from "@/components/admin/purchases-table";
import { UserSubscriptions } from "@/components/admin/user-subscriptions";
import { TransactionHistory } from "@/components/credits/transaction-history";
import { DateTime } from "@/components/format/date-time";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { NotFoundError } from "@/credits/errors";
import { getDb } from "@/db/client";
import { Link } from "@/i18n/navigation";

type PageProps = { params: Promise<{ locale: string; userId: string }> };

async function loadOverview(userId: string): Promise<UserOverview> {
  try {
    return await getUserOverview(await getDb(), userId);
  } catch (error) {
    if (error instanceof NotFoundError) notFound();
    throw error;
  }
}

export default async function AdminUserPage({ params }: PageProps) {
  const { locale, userId } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const [t, overview] = await Promise.all([
    getTranslations("admin"),
    loadOverview(decodeURIComponent(userId)),
  ]);
  const { user } = overview;

  return (
    <div className="flex flex-col gap-8">
      <div className="flex flex-col gap-4">
        <Link
          href="/admin"
          className="inline-flex w-fit items-center gap-1 text-muted-foreground text-sm hover:text-foreground"
        >
          <ChevronLeft className="size-4" aria-hidden />
          {t("backToUsers")}
        </Link>
        <div className="flex flex-col gap-1">
          <div className="flex flex-wrap items-center gap-2">
            <h2
              className="min-w-0 break-all font-semibold text-xl tracking-tight"
              data-testid="admin-user-email"
            >
              {user.externalId ?? user.email}
            </h2>
            {user.role === "admin" ? <Badge>{t("roleAdmin")}</Badge> : null}
            {user.externalId !== null ? (
              <Badge variant="secondary" title={t("customerHint")} data-testid="admin-customer-badge">
                {t("customer")}
              </Badge>
            ) : (
              <Badge variant={user.emailVerified ? "success" : "outline"}>
                {user.emailVerified ? t("verified") : t("unverified")}
              </Badge>
            )}
          </div>
          <p className="text-muted-foreground text-sm">
            {user.externalId !== null ? `${user.email || t("noEmail")} · ` : null}
            {user.externalId === null || user.name ? `${user.name} · ` : null}
            {t("joined")} <DateTime value={user.createdAt} timeStyle={null} />
          </p>
          {user.externalId !== null ? (
            <p className="break-all text-muted-foreground text-xs">
              {t("externalId")} <span className="font-mono">{user.externalId}</span>
              {user.metadata && Object.keys(user.metadata).length > 0 ? (
                <>
                  {" · "}
                  {t("customerMetadata")} <span className="font-mono">{JSON.stringify(user.metadata)}</span>
                </>
              ) : null}
            </p>
          ) : null}
          <p className="text-muted-foreground text-xs">
            {t("userId")} <span className="font-mono">{user.id}</span>
          </p>
        </div>
      </div>

      <BalanceStats balance={overview.balance} />

      <Section title={t("adjustTitle")} description={t("adjustSubtitle")} padded>
        <AdjustCreditsForm userId={user.id} />
      </Section>

      <Section
        title={t("purchasesTitle")}
        description={t("userPurchasesSubtitle")}
        testId="admin-user-purchases"
      >
        <PurchasesTable purchases={overview.purchases} showCustomer={false} />
      </Section>

      <Section
        title={t("userSubscriptionsTitle")}
        description={t("userSubscriptionsSubtitle")}
        testId="admin-user-subscriptions"
      >
        <UserSubscriptions subscriptions={overview.subscriptions} />
      </Section>

      <Section title={t("lotsTitle")} description={t("lotsSubtitle")}>
        <LotsTable lots={overview.lots} />
      </Section>

      <TransactionHistory
        title={t("historyTitle")}
        testId="admin-user-history"
        source={{
          listUrl: `/api/admin/users/${encodeURIComponent(user.id)}/transactions`,
          exportUrl: `/api/admin/users/${encodeURIComponent(user.id)}/transactions/export`,
        }}
      />

      <Section title={t("auditTitle")} description={t("auditUserSubtitle")}>
        <AuditTable
          entries={overview.audit}
          showTarget={false}
          currencies={Object.fromEntries(
            overview.purchases.map((purchase) => [purchase.id, purchase.currency]),
          )}
        />
      </Section>
    </div>
  );
}

function Section({
  title,
  description,
  padded = false,
  testId,
  children,
}: {
  title: string;
  description: string;
  padded?: boolean;
  testId?: string;
  children: ReactNode;
}) {
  return (
    <Card className="gap-4" data-testid={testId}>
      <CardHeader>
        <CardTitle className="text-base">{title}</CardTitle>
        <CardDescription>{description}</CardDescription>
      </CardHeader>
      <CardContent className={padded ? undefined : "px-0"}>{children}</CardContent>
    </Card>
  );
}

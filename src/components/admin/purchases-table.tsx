import { ReceiptText } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { formatMoney } from "@/catalog/format-money";
import { DateTime } from "@/components/format/date-time";
import { usePurchaseName } from "@/components/pricing/package-card";
import { Badge, type BadgeProps } from "@/components/ui/badge";
import { TableHead, TableRow } from "@/components/ui/table";
import { Link } from "@/i18n/navigation";
import { RefundButton } from "./refund-button";
import {
  EmptyState,
  StackedBody,
  StackedCell,
  StackedHeader,
  StackedRow,
  StackedTable,
} from "./stacked-table";

export const PURCHASE_STATUSES = [
  "pending",
  "succeeded",
  "failed",
  "canceled",
  "requires_review",
  "abandoned",
  "invoice_unpaid",
] as const;

export type AdminPurchase = {
  id: string;
  kind: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
  status: string;
  amountRefunded: number;
  /** Minor units a later plan change's proration credited back against this invoice (0 for packages). */
  creditedByProration: number;
  /** What may still be refunded, in minor units: amount − refunded − credited by proration. */
  refundable: number;
  disputed: boolean;
  flaggedReason: string | null;
  createdAt: string;
  /** Present in the all-users list. */
  userId?: string;
  email?: string;
};

const STATUS_VARIANTS: Record<string, NonNullable<BadgeProps["variant"]>> = {
  succeeded: "success",
  pending: "secondary",
  failed: "destructive",
  canceled: "outline",
  requires_review: "warning",
  abandoned: "outline",
  invoice_unpaid: "outline",
};

export function PurchaseStatusBadge({ status }: { status: string }) {
  const t = useTranslations("admin.purchaseStatus");
  return (
    <Badge variant={STATUS_VARIANTS[status] ?? "outline"} data-testid="purchase-status">
      {t.has(status) ? t(status) : status}
    </Badge>
  );
}

export function PurchasesTable({
  purchases,
  showCustomer,
}: {
  purchases: AdminPurchase[];
  showCustomer: boolean;
}) {
  const t = useTranslations("admin");
  const locale = useLocale();
  const purchaseName = usePurchaseName();

  if (purchases.length === 0) {
    return <EmptyState icon={ReceiptText} title={t("purchasesEmpty")} testId="admin-purchases-empty" />;
  }

  return (
    <StackedTable>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colPackage")}</TableHead>
          {showCustomer ? <TableHead>{t("colCustomer")}</TableHead> : null}
          <TableHead className="text-right">{t("colAmount")}</TableHead>
          <TableHead>{t("colStatus")}</TableHead>
          <TableHead>{t("colDate")}</TableHead>
          <TableHead className="pr-6">
            <span className="sr-only">{t("colActions")}</span>
          </TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {purchases.map((purchase) => {
          const money = (amount: number) => formatMoney({ amount, currency: purchase.currency }, locale);
          const refundable = purchase.status === "succeeded" && purchase.refundable > 0 && !purchase.disputed;
          return (
            <StackedRow key={purchase.id} data-testid="admin-purchase-row" data-purchase-id={purchase.id}>
              <StackedCell className="pl-6">
                <div className="flex flex-col gap-0.5">
                  <span className="font-medium">{purchaseName(purchase)}</span>
                  <span className="text-muted-foreground text-xs">
                    {t("creditsCount", { count: purchase.credits })}
                  </span>
                </div>
              </StackedCell>
              {showCustomer ? (
                <StackedCell label={t("colCustomer")} className="max-w-56 max-md:max-w-none">
                  {purchase.userId && purchase.email ? (
                    <Link
                      href={`/admin/users/${purchase.userId}`}
                      className="block truncate underline-offset-4 hover:underline"
                    >
                      {purchase.email}
                    </Link>
                  ) : null}
                </StackedCell>
              ) : null}
              <StackedCell label={t("colAmount")} className="text-right tabular-nums">
                <div className="flex flex-col gap-0.5 max-md:items-end">
                  <span className="font-medium">{money(purchase.amount)}</span>
                  {purchase.amountRefunded > 0 ? (
                    <span className="text-destructive text-xs" data-testid="purchase-refunded">
                      {t("refunded", { amount: money(purchase.amountRefunded) })}
                    </span>
                  ) : null}
                </div>
              </StackedCell>
              <StackedCell label={t("colStatus")}>
                <div className="flex flex-wrap items-center gap-1.5 max-md:justify-end">
                  <PurchaseStatusBadge status={purchase.status} />
                  {purchase.disputed ? <Badge variant="destructive">{t("disputed")}</Badge> : null}
                  {purchase.amountRefunded >= purchase.amount ? (
                    <Badge variant="outline">{t("fullyRefunded")}</Badge>
                  ) : null}
                </div>
                {purchase.flaggedReason ? (
                  <p
                    className="mt-1 max-w-56 text-muted-foreground text-xs max-md:ml-auto"
                    title={purchase.flaggedReason}
                  >
                    {purchase.flaggedReason}
                  </p>
                ) : null}
              </StackedCell>
              <StackedCell label={t("colDate")} className="whitespace-nowrap text-muted-foreground">
                <DateTime value={purchase.createdAt} />
              </StackedCell>
              <StackedCell className="pr-6 text-right max-md:pt-2">
                {refundable ? (
                  <RefundButton
                    purchase={{
                      id: purchase.id,
                      kind: purchase.kind,
                      packageId: purchase.packageId,
                      credits: purchase.credits,
                      amount: purchase.amount,
                      currency: purchase.currency,
                      amountRefunded: purchase.amountRefunded,
                      creditedByProration: purchase.creditedByProration,
                      refundable: purchase.refundable,
                    }}
                  />
                ) : null}
              </StackedCell>
            </StackedRow>
          );
        })}
      </StackedBody>
    </StackedTable>
  );
}

import { Layers } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { useTransactionText } from "@/components/credits/transaction-text";
import { DateTime } from "@/components/format/date-time";
import { Badge } from "@/components/ui/badge";
import { TableHead, TableRow } from "@/components/ui/table";
import {
  EmptyState,
  StackedBody,
  StackedCell,
  StackedHeader,
  StackedRow,
  StackedTable,
} from "./stacked-table";

export type AdminLot = {
  id: string;
  credits: number;
  remaining: number;
  source: string;
  category: string;
  expiresAt: string | null;
  createdAt: string;
};

export function LotsTable({ lots }: { lots: AdminLot[] }) {
  const t = useTranslations("admin");
  const format = useFormatter();
  const text = useTransactionText();

  if (lots.length === 0) return <EmptyState icon={Layers} title={t("lotsEmpty")} testId="admin-lots-empty" />;

  return (
    <StackedTable>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colSource")}</TableHead>
          <TableHead className="text-right">{t("colRemaining")}</TableHead>
          <TableHead>{t("colCategory")}</TableHead>
          <TableHead>{t("colExpires")}</TableHead>
          <TableHead className="pr-6">{t("colCreated")}</TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {lots.map((lot) => (
          <StackedRow key={lot.id} data-testid="admin-lot-row">
            <StackedCell className="pl-6">
              <Badge variant={text.badgeVariant(lot.source)}>{text.label(lot.source)}</Badge>
            </StackedCell>
            <StackedCell label={t("colRemaining")} className="text-right tabular-nums">
              <span className="font-medium">{format.number(lot.remaining)}</span>
              <span className="text-muted-foreground"> / {format.number(lot.credits)}</span>
            </StackedCell>
            <StackedCell label={t("colCategory")}>
              {t.has(`categories.${lot.category}`) ? t(`categories.${lot.category}`) : lot.category}
            </StackedCell>
            <StackedCell label={t("colExpires")} className="whitespace-nowrap">
              {lot.expiresAt ? (
                <DateTime value={lot.expiresAt} />
              ) : (
                <span className="text-muted-foreground">{t("never")}</span>
              )}
            </StackedCell>
            <StackedCell label={t("colCreated")} className="whitespace-nowrap pr-6 text-muted-foreground">
              <DateTime value={lot.createdAt} />
            </StackedCell>
          </StackedRow>
        ))}
      </StackedBody>
    </StackedTable>
  );
}

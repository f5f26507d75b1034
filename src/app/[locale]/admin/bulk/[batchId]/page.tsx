import { notFound } from "next/navigation";
import { getFormatter, getTranslations, setRequestLocale } from "next-intl/server";
import { getBulkBatch, listFailedBulkRows } from "@/admin/bulk/list-bulk-batches";
import { requireAdmin } from "@/auth/require-admin";
import { BulkBatchProgress } from "@/components/admin/bulk-batch-progress";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { getDb } from "@/db/client";
import { Link } from "@/i18n/navigation";

type PageProps = {
  params: Promise<{ locale: string; batchId: string }>;
  searchParams: Promise<{ existing?: string }>;
};

export default async function AdminBulkBatchPage({ params, searchParams }: PageProps) {
  const { locale, batchId } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const { existing } = await searchParams;
  const db = await getDb();
  const batch = await getBulkBatch(db, batchId);
  if (!batch) notFound();
  const [t, format, failed] = await Promise.all([
    getTranslations("admin"),
    getFormatter(),
    listFailedBulkRows(db, batch.id),
  ]);
  const stats = [
    [t("bulkTotalRows"), batch.totalRows],
    [t("bulkValidRows"), batch.validRows],
    [t("bulkFailedRows"), batch.failedRows],
    [t("bulkGrantTotal"), batch.grantTotal],
    [t("bulkRevokeTotal"), batch.revokeTotal],
  ] as const;
  return (
    <div className="flex flex-col gap-4">
      <Link href="/admin/bulk" className="text-muted-foreground text-sm underline-offset-4 hover:underline">
        ← {t("bulkBack")}
      </Link>
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="break-all text-xl tracking-tight">
            {t("bulkPreviewTitle", { file: batch.fileName })}
          </CardTitle>
          <CardDescription>
            {batch.operatorLabel} ·{" "}
            {format.dateTime(batch.createdAt, { dateStyle: "medium", timeStyle: "short" })}
          </CardDescription>
        </CardHeader>
        <CardContent className="flex flex-col gap-4">
          {existing ? (
            <p role="status" className="rounded-md border p-3 text-sm">
              {t("bulkAlreadyUploaded")}
            </p>
          ) : null}
          <dl className="grid grid-cols-2 gap-3 sm:grid-cols-5">
            {stats.map(([label, value]) => (
              <div key={label} className="rounded-md border p-3">
                <dt className="text-muted-foreground text-xs">{label}</dt>
                <dd className="font-semibold text-lg tabular-nums">{format.number(value)}</dd>
              </div>
            ))}
          </dl>
          <BulkBatchProgress
            batchId={batch.id}
            initial={{
              status: batch.status,
              validRows: batch.validRows,
              appliedRows: batch.appliedRows,
              failedRows: batch.failedRows,
              totalRows: batch.totalRows,
            }}
          />
        </CardContent>
      </Card>
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-lg">{t("bulkFailedTitle")}</CardTitle>
        </CardHeader>
        <CardContent className="overflow-x-auto px-0">
          {failed.length === 0 ? (
            <p className="px-6 text-muted-foreground text-sm">{t("bulkFailedEmpty")}</p>
          ) : (
            <Table data-testid="bulk-failed-rows">
              <TableHeader>
                <TableRow>
                  <TableHead>{t("bulkColRow")}</TableHead>
                  <TableHead>{t("bulkColUser")}</TableHead>
                  <TableHead className="text-right">{t("bulkColAmount")}</TableHead>
                  <TableHead className="hidden sm:table-cell">{t("bulkColReason")}</TableHead>
                  <TableHead>{t("bulkColError")}</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {failed.map((row) => (
                  <TableRow key={row.rowNumber}>
                    <TableCell className="tabular-nums">{row.rowNumber}</TableCell>
                    <TableCell className="max-w-40 truncate">{row.userRef}</TableCell>
                    <TableCell className="text-right tabular-nums">
                      {row.amount === null ? "—" : format.number(row.amount)}
                    </TableCell>
                    <TableCell className="hidden max-w-48 truncate sm:table-cell">{row.reason}</TableCell>
                    <TableCell>
                      {t(`bulkErrors.${row.error ?? "ledger_refused"}` as "bulkErrors.duplicate")}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </CardContent>
      </Card>
    </div>
  );
}

import { getFormatter, getTranslations, setRequestLocale } from "next-intl/server";
import { listBulkBatches } from "@/admin/bulk/list-bulk-batches";
import { requireAdmin } from "@/auth/require-admin";
import { BulkUploadForm } from "@/components/admin/bulk-upload-form";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { getDb } from "@/db/client";
import { Link } from "@/i18n/navigation";

type PageProps = { params: Promise<{ locale: string }> };

export default async function AdminBulkPage({ params }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const [t, format, batches] = await Promise.all([
    getTranslations("admin"),
    getFormatter(),
    getDb().then((db) => listBulkBatches(db)),
  ]);
  return (
    <div className="flex flex-col gap-4">
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-xl tracking-tight">{t("bulkTitle")}</CardTitle>
          <CardDescription>{t("bulkSubtitle")}</CardDescription>
        </CardHeader>
        <CardContent>
          <BulkUploadForm />
        </CardContent>
      </Card>
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-lg">{t("bulkBatchesTitle")}</CardTitle>
        </CardHeader>
        <CardContent className="overflow-x-auto px-0">
          {batches.length === 0 ? (
            <p className="px-6 text-muted-foreground text-sm">{t("bulkBatchesEmpty")}</p>
          ) : (
            <Table data-testid="bulk-batches">
              <TableHeader>
                <TableRow>
                  <TableHead>{t("bulkColFile")}</TableHead>
                  <TableHead>{t("bulkColStatus")}</TableHead>
                  <TableHead className="text-right">{t("bulkColRows")}</TableHead>
                  <TableHead className="text-right">{t("bulkColOk")}</TableHead>
                  <TableHead className="text-right">{t("bulkColFailed")}</TableHead>
                  <TableHead className="hidden sm:table-cell">{t("bulkColOperator")}</TableHead>
                  <TableHead className="hidden sm:table-cell">{t("bulkColTime")}</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {batches.map((batch) => (
                  <TableRow key={batch.id}>
                    <TableCell className="max-w-48 truncate">
                      <Link
                        href={`/admin/bulk/${batch.id}`}
                        aria-label={t("bulkView", { file: batch.fileName })}
                        className="underline-offset-4 hover:underline"
                      >
                        {batch.fileName}
                      </Link>
                    </TableCell>
                    <TableCell>{t(`bulkStatus.${batch.status}` as "bulkStatus.done")}</TableCell>
                    <TableCell className="text-right tabular-nums">
                      {format.number(batch.totalRows)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {format.number(batch.appliedRows)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {format.number(batch.failedRows)}
                    </TableCell>
                    <TableCell className="hidden sm:table-cell">{batch.operatorLabel}</TableCell>
                    <TableCell className="hidden whitespace-nowrap sm:table-cell">
                      {format.dateTime(batch.createdAt, { dateStyle: "medium", timeStyle: "short" })}
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

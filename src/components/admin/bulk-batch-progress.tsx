"use client";

import { useTranslations } from "next-intl";
import { useEffect, useState } from "react";
import { Button } from "@/components/ui/button";
import { useRouter } from "@/i18n/navigation";

type BatchState = {
  status: string;
  validRows: number;
  appliedRows: number;
  failedRows: number;
  totalRows: number;
};

/**
 * The apply button and, once applying, a progress bar that polls the batch every second until it is done
 * (then the page reloads to show the rows the ledger refused).
 */
export function BulkBatchProgress({ batchId, initial }: { batchId: string; initial: BatchState }) {
  const t = useTranslations("admin");
  const router = useRouter();
  const [batch, setBatch] = useState(initial);
  const [busy, setBusy] = useState(false);
  const active = batch.status === "queued" || batch.status === "running";

  useEffect(() => {
    if (!active) return;
    const timer = setInterval(async () => {
      const response = await fetch(`/api/admin/bulk/${batchId}`);
      if (!response.ok) return;
      const next = (await response.json()) as BatchState;
      setBatch(next);
      if (next.status === "done") router.refresh();
    }, 1_000);
    return () => clearInterval(timer);
  }, [active, batchId, router]);

  async function apply() {
    setBusy(true);
    const response = await fetch(`/api/admin/bulk/${batchId}/apply`, { method: "POST" });
    if (response.ok) setBatch((await response.json()) as BatchState);
    setBusy(false);
  }

  if (batch.status === "previewed")
    return (
      <Button onClick={apply} disabled={busy || batch.validRows === 0} data-testid="bulk-apply">
        {busy ? t("bulkApplying") : t("bulkApply", { count: batch.validRows })}
      </Button>
    );
  // Rows the preview refused are not part of the run: the bar counts the good rows handled so far.
  const initialFailed = initial.totalRows - initial.validRows;
  const handled = batch.appliedRows + Math.max(0, batch.failedRows - initialFailed);
  const total = Math.max(batch.validRows, 1);
  const percent = Math.min(100, Math.round((handled / total) * 100));
  return (
    <div className="flex flex-col gap-1.5">
      <div
        role="progressbar"
        aria-label={t("bulkProgressLabel")}
        aria-valuemin={0}
        aria-valuemax={batch.validRows}
        aria-valuenow={handled}
        aria-valuetext={t("bulkProgressText", { done: handled, total: batch.validRows })}
        className="h-3 w-full overflow-hidden rounded-full bg-muted"
        data-testid="bulk-progress"
      >
        <div className="h-full bg-primary transition-all" style={{ width: `${percent}%` }} />
      </div>
      <p className="text-muted-foreground text-sm" aria-live="polite">
        {t(`bulkStatus.${batch.status}` as "bulkStatus.done")} ·{" "}
        {t("bulkProgressText", { done: handled, total: batch.validRows })}
      </p>
    </div>
  );
}

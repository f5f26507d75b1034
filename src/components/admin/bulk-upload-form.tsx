"use client";

import { useTranslations } from "next-intl";
import { useId, useState } from "react";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useRouter } from "@/i18n/navigation";

/** Sends the chosen CSV file as the request body (streamed to the preview), then opens its batch. */
export function BulkUploadForm() {
  const t = useTranslations("admin");
  const router = useRouter();
  const inputId = useId();
  const hintId = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const file = new FormData(event.currentTarget).get("file");
    if (!(file instanceof File) || file.size === 0) return;
    setBusy(true);
    setError(null);
    try {
      const response = await fetch(`/api/admin/bulk?fileName=${encodeURIComponent(file.name)}`, {
        method: "POST",
        headers: { "content-type": "text/csv" },
        body: file,
      });
      const body = (await response.json()) as { batchId?: string; existing?: boolean; message?: string };
      if (!response.ok || !body.batchId) throw new Error(body.message ?? response.statusText);
      router.push(`/admin/bulk/${body.batchId}${body.existing ? "?existing=1" : ""}`);
    } catch (caught) {
      setError(t("bulkUploadFailed", { message: (caught as Error).message }));
      setBusy(false);
    }
  }

  return (
    <form onSubmit={onSubmit} className="flex flex-col gap-3 sm:flex-row sm:items-end">
      <div className="flex flex-1 flex-col gap-1.5">
        <Label htmlFor={inputId}>{t("bulkFileLabel")}</Label>
        <Input
          id={inputId}
          name="file"
          type="file"
          accept=".csv,text/csv"
          required
          aria-describedby={hintId}
        />
        <p id={hintId} className="text-muted-foreground text-sm">
          {t("bulkFormat")}
        </p>
      </div>
      <Button type="submit" disabled={busy} data-testid="bulk-upload">
        {busy ? t("bulkUploading") : t("bulkUpload")}
      </Button>
      {error ? (
        <p role="alert" className="text-destructive text-sm">
          {error}
        </p>
      ) : null}
    </form>
  );
}

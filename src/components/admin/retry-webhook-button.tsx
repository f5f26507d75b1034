"use client";

import { LoaderCircle, RotateCw } from "lucide-react";
import { useTranslations } from "next-intl";
import { useAction } from "next-safe-action/hooks";
import { toast } from "sonner";
import { retryWebhookFailureAction } from "@/actions/webhook-failures";
import { Button } from "@/components/ui/button";
import { useRouter } from "@/i18n/navigation";

/**
 * Processes a stored failed event again through the exactly-once webhook path. Meant for after the cause
 * is fixed; a retry that fails again keeps the event listed with the new reason.
 */
export function RetryWebhookButton({ failure }: { failure: { eventId: string; eventType: string } }) {
  const t = useTranslations("admin");
  const router = useRouter();
  const { executeAsync, isExecuting } = useAction(retryWebhookFailureAction);

  async function retry() {
    try {
      const result = await executeAsync({ eventId: failure.eventId });
      if (result?.serverError || !result?.data) {
        toast.error(result?.serverError?.code === "forbidden" ? t("errorForbidden") : t("errorGeneric"));
        return;
      }
      if (result.data.resolved) toast.success(t("webhookRetried", { outcome: result.data.outcome }));
      else toast.error(t("webhookRetryFailed"), { description: result.data.reason });
      router.refresh();
    } catch {
      toast.error(t("errorGeneric"));
    }
  }

  return (
    <Button
      variant="outline"
      size="sm"
      onClick={() => void retry()}
      disabled={isExecuting}
      aria-busy={isExecuting}
      aria-label={t("webhookRetryAria", { type: failure.eventType, id: failure.eventId })}
      data-testid={`retry-webhook-${failure.eventId}`}
    >
      {isExecuting ? <LoaderCircle className="animate-spin" aria-hidden /> : <RotateCw aria-hidden />}
      {t("webhookRetry")}
    </Button>
  );
}

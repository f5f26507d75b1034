"use client";

import { useMutation } from "@tanstack/react-query";
import { ExternalLink, LoaderCircle } from "lucide-react";
import { useTranslations } from "next-intl";
import { toast } from "sonner";
import { Button } from "@/components/ui/button";
import { openBillingPortal } from "./subscription-api";

/**
 * "Manage billing" (Stripe only): asks the server for a customer portal session and sends the browser
 * there, where the customer changes the card, switches plans or cancels; Stripe returns them to the
 * credits page, and what they did arrives as the same webhook events as a change made here.
 */
export function ManageBillingButton() {
  const t = useTranslations("subscription");
  const portal = useMutation({
    mutationFn: openBillingPortal,
    onSuccess({ url }) {
      window.location.assign(url);
    },
    onError() {
      toast.error(t("manageBillingError"));
    },
  });
  return (
    <Button
      variant="outline"
      size="sm"
      onClick={() => portal.mutate()}
      disabled={portal.isPending || portal.isSuccess}
      data-testid="manage-billing"
    >
      {portal.isPending || portal.isSuccess ? (
        <LoaderCircle className="animate-spin" aria-hidden />
      ) : (
        <ExternalLink aria-hidden />
      )}
      {t("manageBilling")}
    </Button>
  );
}

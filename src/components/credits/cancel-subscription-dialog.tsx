"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { LoaderCircle } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { useState } from "react";
import { toast } from "sonner";
import { useTimeZone } from "@/components/format/date-time";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogClose,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "@/components/ui/dialog";
import { creditsKeys } from "./credits-api";
import { cancelSubscription } from "./subscription-api";

/**
 * "Cancel plan" with a confirmation: DELETE /api/credits/subscription ends the subscription at the end of
 * its period. Nothing is taken back: the plan's credits stay until their own expiry.
 */
export function CancelSubscriptionDialog({
  planName,
  periodEnd,
}: {
  planName: string;
  /** The current period's last moment, formatted for the reader; null while unknown. */
  periodEnd: string | null;
}) {
  const t = useTranslations();
  const format = useFormatter();
  const timeZone = useTimeZone();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const cancel = useMutation({
    mutationFn: cancelSubscription,
    onSuccess(subscription) {
      queryClient.setQueryData(creditsKeys.subscription, subscription);
      void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
      const end = subscription.currentPeriodEnd
        ? format.dateTime(new Date(subscription.currentPeriodEnd), { dateStyle: "medium", timeZone })
        : periodEnd;
      toast.success(t("subscription.canceled", { date: end ?? "—" }));
      setOpen(false);
    },
    onError() {
      toast.error(t("subscription.cancelError"));
    },
  });

  return (
    <Dialog open={open} onOpenChange={(next) => (cancel.isPending ? undefined : setOpen(next))}>
      <DialogTrigger asChild>
        <Button
          variant="ghost"
          size="sm"
          className="text-muted-foreground hover:text-destructive"
          data-testid="cancel-subscription"
        >
          {t("subscription.cancel")}
        </Button>
      </DialogTrigger>
      <DialogContent closeLabel={t("common.close")} data-testid="cancel-dialog">
        <DialogHeader>
          <DialogTitle>{t("subscription.cancelTitle", { name: planName })}</DialogTitle>
          <DialogDescription>{t("subscription.cancelText", { date: periodEnd ?? "—" })}</DialogDescription>
        </DialogHeader>
        <DialogFooter>
          <DialogClose asChild>
            <Button variant="outline" disabled={cancel.isPending}>
              {t("subscription.cancelKeep")}
            </Button>
          </DialogClose>
          <Button
            variant="destructive"
            onClick={() => cancel.mutate()}
            disabled={cancel.isPending}
            aria-busy={cancel.isPending}
            data-testid="confirm-cancel"
          >
            {cancel.isPending ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
            {t("subscription.cancelConfirm")}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

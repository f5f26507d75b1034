"use client";

import { useQueryClient } from "@tanstack/react-query";
import { CircleX, LoaderCircle, Undo2 } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useAction } from "next-safe-action/hooks";
import { type FormEvent, useId, useState } from "react";
import { toast } from "sonner";
import { refundPurchaseAction } from "@/actions/admin";
import { currencyRule, formatAmountText, parseAmountText } from "@/catalog/currencies";
import { formatMoney } from "@/catalog/format-money";
import { creditsKeys } from "@/components/credits/credits-api";
import { usePurchaseName } from "@/components/pricing/package-card";
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
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useRouter } from "@/i18n/navigation";

export type RefundablePurchase = {
  id: string;
  kind: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
  amountRefunded: number;
  /** Minor units a later plan change's proration already credited back against this invoice. */
  creditedByProration: number;
  /** What may still be refunded (minor units), as the server computes it (refund-purchase.ts caps the same). */
  refundable: number;
};

/**
 * Refund with a confirmation step: the rest of the purchase by default, or a partial amount. The provider
 * is asked to refund; the ledger follows when the refund event arrives, so the page refreshes afterwards.
 */
export function RefundButton({ purchase }: { purchase: RefundablePurchase }) {
  const t = useTranslations("admin");
  const tc = useTranslations("common");
  const locale = useLocale();
  const router = useRouter();
  const queryClient = useQueryClient();
  const id = useId();
  const purchaseName = usePurchaseName();
  const { executeAsync, isExecuting } = useAction(refundPurchaseAction);
  const [open, setOpen] = useState(false);
  const [amountText, setAmountText] = useState("");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<{ field: "amount" | "reason" | "form"; message: string } | null>(null);
  // One refund the admin asks for: a double click or a retry of this dialog's request is the same refund
  // (the provider answers a repeated Idempotency-Key with the first refund). A new dialog, or another
  // amount, is a new request, so a second refund asked for on purpose (or again after the first failed at
  // Stripe) is never answered with the first one.
  const [requestId, setRequestId] = useState(() => crypto.randomUUID());

  const refundable = purchase.refundable;
  const money = (amount: number) => formatMoney({ amount, currency: purchase.currency }, locale);
  // Minor units as Stripe counts them in this currency (src/catalog/currencies.ts): an amount Stripe
  // would refuse (an ISK fraction, a KWD amount not ending in 0) is refused here, with the nearest
  // amounts it accepts; the server checks again.
  const typed = amountText.trim() ? parseAmountText(amountText, purchase.currency) : null;
  const parsed = typed ? (typed.ok ? typed.amount : null) : refundable;
  const validAmount = parsed !== null && parsed > 0 && parsed <= refundable;
  const smallestRefund = currencyRule(purchase.currency).step;

  function reset(nextOpen: boolean) {
    setOpen(nextOpen);
    setRequestId(crypto.randomUUID());
    if (!nextOpen) {
      setAmountText("");
      setReason("");
      setError(null);
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!validAmount || parsed === null) {
      setError({
        field: "amount",
        message:
          // The nearest accepted amounts, when both are ones that could be refunded.
          typed?.ok === false && typed.reason === "step" && typed.lower > 0 && typed.higher <= refundable
            ? t("refundAmountStep", {
                step: money(typed.step),
                lower: money(typed.lower),
                higher: money(typed.higher),
              })
            : typed?.ok === false && typed.reason === "decimals"
              ? t("refundAmountDecimals", {
                  currency: purchase.currency.toUpperCase(),
                  decimals: typed.decimals,
                })
              : t("refundAmountInvalid", { min: money(smallestRefund), max: money(refundable) }),
      });
      return;
    }
    if (reason.trim().length < 3) {
      setError({ field: "reason", message: t("refundReasonInvalid") });
      return;
    }
    setError(null);
    try {
      const result = await executeAsync({
        purchaseId: purchase.id,
        // Leaving the field empty refunds whatever is left, decided by the server at that moment.
        ...(amountText.trim() ? { amount: parsed } : {}),
        reason: reason.trim(),
        requestId,
      });
      const serverError = result?.serverError;
      if (serverError || !result?.data) {
        const message =
          serverError?.code === "refund_not_possible"
            ? t("refundNotPossible")
            : serverError?.code === "forbidden"
              ? t("errorForbidden")
              : serverError?.code === "invalid_input"
                ? t("refundAmountRefused")
                : t("errorGeneric");
        setError({ field: "form", message });
        return;
      }
      toast.success(t("refundDone"), { description: money(parsed) });
      reset(false);
      router.refresh();
      // The history below is fetched in the browser: refreshing the server's part does not reach it.
      void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
    } catch {
      setError({ field: "form", message: t("errorGeneric") });
    }
  }

  return (
    <Dialog open={open} onOpenChange={reset}>
      <DialogTrigger asChild>
        <Button
          variant="outline"
          size="sm"
          data-testid={`refund-${purchase.id}`}
          aria-label={t("refundAria", {
            name: purchaseName(purchase),
            amount: money(purchase.amount),
          })}
        >
          <Undo2 aria-hidden />
          {t("refund")}
        </Button>
      </DialogTrigger>
      <DialogContent closeLabel={tc("close")} data-testid="refund-dialog">
        <DialogHeader>
          <DialogTitle>{t("refundTitle")}</DialogTitle>
          <DialogDescription>
            {t("refundDescription", {
              name: purchaseName(purchase),
              credits: purchase.credits,
              amount: money(purchase.amount),
            })}
          </DialogDescription>
        </DialogHeader>
        <form noValidate onSubmit={(event) => void submit(event)} className="flex flex-col gap-5">
          {error?.field === "form" ? (
            <div
              role="alert"
              className="flex items-start gap-2 rounded-lg border border-destructive/30 bg-destructive/10 px-3 py-2.5 text-destructive text-sm"
            >
              <CircleX className="mt-0.5 size-4 shrink-0" aria-hidden />
              <span>{error.message}</span>
            </div>
          ) : null}
          <div className="flex flex-col gap-2">
            <Label htmlFor={`${id}-amount`}>
              {t("refundAmount", { currency: purchase.currency.toUpperCase() })}
            </Label>
            <Input
              id={`${id}-amount`}
              inputMode="decimal"
              autoComplete="off"
              placeholder={formatAmountText({ amount: refundable, currency: purchase.currency })}
              value={amountText}
              onChange={(event) => {
                setAmountText(event.target.value);
                setRequestId(crypto.randomUUID());
              }}
              data-testid="refund-amount"
              aria-invalid={error?.field === "amount" ? true : undefined}
              aria-describedby={`${id}-amount-hint`}
            />
            <p
              id={`${id}-amount-hint`}
              className={
                error?.field === "amount" ? "text-destructive text-sm" : "text-muted-foreground text-xs"
              }
            >
              {error?.field === "amount"
                ? error.message
                : t("refundAmountHint", { amount: money(refundable) })}
            </p>
            {purchase.creditedByProration > 0 ? (
              <p className="text-muted-foreground text-xs" data-testid="refund-credited-note">
                {t("refundCreditedNote", {
                  credited: money(purchase.creditedByProration),
                  amount: money(refundable),
                })}
              </p>
            ) : null}
          </div>
          <div className="flex flex-col gap-2">
            <Label htmlFor={`${id}-reason`}>{t("refundReason")}</Label>
            <Input
              id={`${id}-reason`}
              value={reason}
              maxLength={500}
              placeholder={t("refundReasonPlaceholder")}
              onChange={(event) => setReason(event.target.value)}
              data-testid="refund-reason"
              aria-invalid={error?.field === "reason" ? true : undefined}
              aria-describedby={error?.field === "reason" ? `${id}-reason-error` : undefined}
            />
            {error?.field === "reason" ? (
              <p id={`${id}-reason-error`} className="text-destructive text-sm">
                {error.message}
              </p>
            ) : null}
          </div>
          <p className="rounded-lg bg-muted px-3 py-2.5 text-muted-foreground text-xs">{t("refundNote")}</p>
          <DialogFooter>
            <DialogClose asChild>
              <Button type="button" variant="outline">
                {t("cancel")}
              </Button>
            </DialogClose>
            <Button
              type="submit"
              variant="destructive"
              disabled={isExecuting}
              aria-busy={isExecuting}
              data-testid="refund-confirm"
            >
              {isExecuting ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
              {t("refundConfirm", { amount: money(validAmount && parsed !== null ? parsed : refundable) })}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

"use client";

import { useQueryClient } from "@tanstack/react-query";
import { CircleCheck, Clock } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useState } from "react";
import { toast } from "sonner";
import { formatMoney } from "@/catalog/format-money";
import type { CreditPackage } from "@/catalog/packages";
import { usePackageName } from "@/components/pricing/package-card";
import { type PlanCardPlan, usePlanName } from "@/components/pricing/plan-card";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogClose,
  DialogContent,
  DialogDescription,
  DialogHeader,
  DialogTitle,
} from "@/components/ui/dialog";
import { creditsKeys } from "./credits-api";
import { SandboxPaymentForm } from "./sandbox-payment-form";
import { StripePaymentForm } from "./stripe-payment-form";
import { type PurchaseWait, usePurchaseOutcome } from "./use-purchase-outcome";
import { type SubscriptionWait, useSubscriptionActivation } from "./use-subscription";

/** A PaymentIntent the dialog confirms: the server created it and decided its amount. */
type PaymentIntentCheckout = {
  paymentIntentId: string;
  clientSecret: string;
  provider: "stripe" | "sandbox";
  publishableKey: string | null;
};

/** Paying for a credit package. */
export type PackageCheckout = PaymentIntentCheckout & {
  kind: "package";
  pkg: CreditPackage;
  purchaseId: string;
};

/**
 * Paying the first invoice of a subscription (the sandbox only: with Stripe, subscribing goes to Stripe
 * Checkout instead). Its credits are the plan's first month, granted when the invoice is paid.
 */
export type PlanCheckout = PaymentIntentCheckout & {
  kind: "plan";
  plan: PlanCardPlan;
  subscriptionId: string;
  provider: "sandbox";
  /** The trial the subscription starts with: nothing is charged now, the plan's price at its end. */
  trial: { days: number; credits: number } | null;
};

export type Checkout = PackageCheckout | PlanCheckout;

/** One dialog content per thing being paid: a new purchase or subscription starts with a fresh form. */
function checkoutKey(checkout: Checkout): string {
  return checkout.kind === "plan" ? `subscription:${checkout.subscriptionId}` : checkout.purchaseId;
}

export type PaymentCallbacks = {
  /** The purchase is paid; for Stripe the ledger has already confirmed it. */
  onSucceeded: () => void;
  /** The payment is still being processed after the polling window: not a failure, not yet credits. */
  onPending: () => void;
  /** Shows the failure as a toast as well; the form keeps its own inline error. */
  onFailed: (message: string) => void;
};

export function PayDialog({ checkout, onClose }: { checkout: Checkout | null; onClose: () => void }) {
  const t = useTranslations("common");
  const queryClient = useQueryClient();
  // The sandbox purchase last paid, until it is settled (see onSucceeded in PayFlow). Watched here, not in
  // the dialog's content, so closing the dialog right after paying does not stop the wait.
  const [paidInSandbox, setPaidInSandbox] = useState<PurchaseWait | null>(null);
  usePurchaseOutcome(paidInSandbox, () => void queryClient.invalidateQueries({ queryKey: creditsKeys.all }), {
    timeoutMs: 20_000,
  });
  // The same for a subscription's first invoice: its credits and its `active` status come with invoice.paid.
  const [subscribedInSandbox, setSubscribedInSandbox] = useState<SubscriptionWait | null>(null);
  useSubscriptionActivation(
    subscribedInSandbox,
    () => void queryClient.invalidateQueries({ queryKey: creditsKeys.all }),
    { timeoutMs: 20_000 },
  );
  return (
    <Dialog open={checkout !== null} onOpenChange={(open) => (open ? undefined : onClose())}>
      {checkout ? (
        <DialogContent
          closeLabel={t("close")}
          data-testid="pay-dialog"
          // Clicking outside by accident must not throw away a half-typed card.
          onInteractOutside={(event) => event.preventDefault()}
        >
          <PayFlow
            key={checkoutKey(checkout)}
            checkout={checkout}
            onSandboxPaid={() =>
              checkout.kind === "plan"
                ? setSubscribedInSandbox({ subscriptionId: checkout.subscriptionId, startedAt: Date.now() })
                : setPaidInSandbox({ purchaseId: checkout.purchaseId, startedAt: Date.now() })
            }
          />
        </DialogContent>
      ) : null}
    </Dialog>
  );
}

type Outcome = "open" | "succeeded" | "pending";

/** The words of the dialog: what is bought, for how much, and what the success says. */
function usePayText(checkout: Checkout) {
  const t = useTranslations("pay");
  const locale = useLocale();
  const packageName = usePackageName();
  const planName = usePlanName();
  if (checkout.kind === "plan") {
    const { plan } = checkout;
    const price = formatMoney(plan.price, locale);
    const credits = plan.creditsPerPeriod;
    const { trial } = checkout;
    if (trial)
      return {
        price: formatMoney({ amount: 0, currency: plan.price.currency }, locale),
        credits: trial.credits,
        title: t("trialTitle", { name: planName(plan), days: trial.days }),
        summary: t("trialSummary", { days: trial.days, trialCredits: trial.credits, credits, price }),
        successTitle: t("trialSuccessTitle"),
        successText: t("trialSuccessText", { credits: trial.credits, days: trial.days }),
      };
    return {
      price,
      credits,
      title: t("subscribeTitle", { name: planName(plan) }),
      summary: t("subscribeSummary", { credits, price, interval: plan.interval }),
      successTitle: t("subscribeSuccessTitle"),
      successText: t("subscribeSuccessText", { credits }),
    };
  }
  const { pkg } = checkout;
  const price = formatMoney(pkg.price, locale);
  return {
    price,
    credits: pkg.credits,
    title: t("title", { name: packageName(pkg) }),
    summary: t("summary", { credits: pkg.credits, price }),
    successTitle: t("successTitle"),
    successText: t("successText", { credits: pkg.credits }),
  };
}

function PayFlow({ checkout, onSandboxPaid }: { checkout: Checkout; onSandboxPaid: () => void }) {
  const t = useTranslations("pay");
  const queryClient = useQueryClient();
  const [outcome, setOutcome] = useState<Outcome>("open");
  const text = usePayText(checkout);
  const { price } = text;
  // One toast per payment: a success replaces the toast of an earlier decline instead of stacking on it.
  const toastId = `payment-${checkoutKey(checkout)}`;

  function refreshCredits() {
    void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
  }

  const callbacks: PaymentCallbacks = {
    onSucceeded() {
      setOutcome("succeeded");
      toast.success(t("toastAdded", { credits: text.credits }), { id: toastId });
      refreshCredits();
      // The sandbox can answer before its simulated webhook wrote the ledger entry (a delivery that failed
      // is retried by the jobs): refresh once more when the purchase is settled (the subscription active),
      // so the balance never lags behind the toast.
      if (checkout.provider === "sandbox") onSandboxPaid();
    },
    onPending() {
      setOutcome("pending");
      refreshCredits();
    },
    onFailed(message) {
      toast.error(t("toastFailed"), { description: message, id: toastId });
    },
  };

  return (
    <>
      <DialogHeader>
        <DialogTitle>{text.title}</DialogTitle>
        <DialogDescription>{text.summary}</DialogDescription>
      </DialogHeader>

      {outcome === "succeeded" ? (
        <div
          data-testid="payment-success"
          role="status"
          className="flex flex-col items-center gap-3 py-6 text-center"
        >
          <span className="flex size-14 items-center justify-center rounded-full bg-success/15 text-success">
            <CircleCheck className="size-7" aria-hidden />
          </span>
          <p className="font-semibold text-lg">{text.successTitle}</p>
          <p className="max-w-xs text-muted-foreground text-sm">{text.successText}</p>
          <DialogClose asChild>
            <Button className="mt-3 min-w-32" data-testid="payment-done">
              {t("done")}
            </Button>
          </DialogClose>
        </div>
      ) : outcome === "pending" ? (
        <div
          data-testid="payment-pending"
          role="status"
          className="flex flex-col items-center gap-3 py-6 text-center"
        >
          <span className="flex size-14 items-center justify-center rounded-full bg-warning/20 text-foreground">
            <Clock className="size-7" aria-hidden />
          </span>
          <p className="max-w-xs text-muted-foreground text-sm">{t("confirmationTimeout")}</p>
          <DialogClose asChild>
            <Button variant="outline" className="mt-3 min-w-32">
              {t("done")}
            </Button>
          </DialogClose>
        </div>
      ) : checkout.provider === "sandbox" ? (
        <SandboxPaymentForm paymentIntentId={checkout.paymentIntentId} price={price} {...callbacks} />
      ) : (
        <StripePaymentForm
          purchaseId={checkout.purchaseId}
          clientSecret={checkout.clientSecret}
          publishableKey={checkout.publishableKey}
          price={price}
          {...callbacks}
        />
      )}
    </>
  );
}

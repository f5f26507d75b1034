"use client";

import { Elements, PaymentElement, useElements, useStripe } from "@stripe/react-stripe-js";
import type { PaymentIntentResult, Stripe } from "@stripe/stripe-js";
// The pure entry does not inject Stripe.js on import: the script loads only when a Stripe payment starts.
import { loadStripe } from "@stripe/stripe-js/pure";
import { useQuery } from "@tanstack/react-query";
import { CircleX, LoaderCircle, Lock, ShieldCheck } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useTheme } from "next-themes";
import { type FormEvent, type ReactNode, useState } from "react";
import { Button } from "@/components/ui/button";
import { Skeleton } from "@/components/ui/skeleton";
import type { PaymentCallbacks } from "./pay-dialog";
import { type PurchaseWait, usePurchaseOutcome } from "./use-purchase-outcome";

/** Stripe.js comes from js.stripe.com; when it is blocked or offline, say so instead of spinning forever. */
const STRIPE_LOAD_TIMEOUT_MS = 15_000;

/** Stripe.js for a publishable key, or an error when it fails or takes longer than timeoutMs. */
export function loadStripeWithin(publishableKey: string, timeoutMs: number): Promise<Stripe> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("Stripe.js did not load in time")), timeoutMs);
    loadStripe(publishableKey).then(
      (stripe) => {
        clearTimeout(timer);
        if (stripe) resolve(stripe);
        else reject(new Error("Stripe.js is not available here"));
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

type StripePaymentFormProps = {
  purchaseId: string;
  clientSecret: string;
  publishableKey: string | null;
  price: string;
} & PaymentCallbacks;

export function StripePaymentForm({ publishableKey, clientSecret, ...rest }: StripePaymentFormProps) {
  const t = useTranslations("pay");
  const locale = useLocale();
  const { resolvedTheme } = useTheme();
  // Cached per key for the tab's life, so reopening the dialog does not load Stripe.js again; a failed
  // load is tried again by "Try again" (stripe-js itself forgets a failed script) or by reopening it.
  const stripeJs = useQuery({
    queryKey: ["stripe.js", publishableKey],
    queryFn: () => loadStripeWithin(publishableKey ?? "", STRIPE_LOAD_TIMEOUT_MS),
    enabled: publishableKey !== null,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: Number.POSITIVE_INFINITY,
    retry: false,
    refetchOnWindowFocus: false,
    refetchOnReconnect: false,
    // A Stripe instance, not data to compare.
    structuralSharing: false,
  });

  if (!publishableKey) {
    return <ErrorPanel title={t("stripeUnavailableTitle")} message={t("stripeNotConfigured")} />;
  }

  if (stripeJs.isError && !stripeJs.isFetching) {
    return (
      <ErrorPanel
        title={t("stripeUnavailableTitle")}
        message={t("stripeLoadFailed")}
        action={
          <Button
            size="sm"
            variant="outline"
            className="text-foreground"
            onClick={() => void stripeJs.refetch()}
            data-testid="payment-retry"
          >
            {t("retry")}
          </Button>
        }
      />
    );
  }

  if (!stripeJs.data) {
    return (
      <div className="flex flex-col gap-3" role="status" aria-live="polite" data-testid="stripe-loading">
        <Skeleton className="h-10 w-full" />
        <div className="grid grid-cols-2 gap-3">
          <Skeleton className="h-10" />
          <Skeleton className="h-10" />
        </div>
        <p className="flex items-center justify-center gap-2 pt-1 text-muted-foreground text-sm">
          <LoaderCircle className="size-4 animate-spin" aria-hidden />
          {t("stripeLoading")}
        </p>
      </div>
    );
  }

  return (
    <Elements
      stripe={stripeJs.data}
      options={{
        clientSecret,
        locale: locale === "zh" ? "zh" : "en",
        appearance: { theme: resolvedTheme === "dark" ? "night" : "stripe" },
      }}
    >
      <CheckoutForm {...rest} />
    </Elements>
  );
}

type Phase =
  | { kind: "ready" }
  | { kind: "submitting" }
  | { kind: "confirming"; wait: PurchaseWait }
  | { kind: "failed"; message: string };

function CheckoutForm({
  purchaseId,
  price,
  onSucceeded,
  onPending,
  onFailed,
}: Omit<StripePaymentFormProps, "clientSecret" | "publishableKey">) {
  const t = useTranslations("pay");
  const stripe = useStripe();
  const elements = useElements();
  const [elementReady, setElementReady] = useState(false);
  const [phase, setPhase] = useState<Phase>({ kind: "ready" });

  function fail(message: string) {
    setPhase({ kind: "failed", message });
    onFailed(message);
  }

  // Closing the dialog while this waits stops the wait: nothing to show then.
  usePurchaseOutcome(phase.kind === "confirming" ? phase.wait : null, (outcome) => {
    if (outcome.kind === "succeeded") onSucceeded();
    else if (outcome.kind === "failed") fail(outcome.purchase.failureMessage ?? t("paymentFailed"));
    else onPending();
  });

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!stripe || !elements || phase.kind === "submitting" || phase.kind === "confirming") return;
    setPhase({ kind: "submitting" });

    let result: PaymentIntentResult;
    try {
      result = await stripe.confirmPayment({ elements, redirect: "if_required" });
    } catch {
      fail(t("networkError"));
      return;
    }
    if (result.error) {
      // Card errors come back from Stripe already localized for the Elements locale.
      fail(result.error.message ?? t("paymentFailed"));
      return;
    }

    // Stripe accepted the payment; the credits arrive with the webhook, so wait for the ledger.
    setPhase({ kind: "confirming", wait: { purchaseId, startedAt: Date.now() } });
  }

  if (phase.kind === "confirming") {
    return (
      <div
        role="status"
        data-testid="payment-confirming"
        className="flex flex-col items-center gap-3 py-8 text-center"
      >
        <LoaderCircle className="size-8 animate-spin text-primary" aria-hidden />
        <p className="font-medium">{t("confirming")}</p>
        <p className="max-w-xs text-muted-foreground text-sm">{t("confirmingText")}</p>
      </div>
    );
  }

  const busy = phase.kind === "submitting";

  return (
    <form onSubmit={onSubmit} className="flex flex-col gap-5" data-testid="stripe-form">
      {!elementReady ? <Skeleton className="h-44 w-full" /> : null}
      <div className={elementReady ? undefined : "sr-only"}>
        <PaymentElement onReady={() => setElementReady(true)} options={{ layout: "tabs" }} />
      </div>
      {phase.kind === "failed" ? <ErrorPanel message={phase.message} /> : null}
      <Button
        type="submit"
        size="lg"
        disabled={!stripe || !elements || !elementReady || busy}
        data-testid="stripe-pay"
      >
        {busy ? <LoaderCircle className="animate-spin" aria-hidden /> : <Lock aria-hidden />}
        {busy ? t("processing") : t("pay", { price })}
      </Button>
      <p className="flex items-center justify-center gap-1.5 text-muted-foreground text-xs">
        <ShieldCheck className="size-3.5" aria-hidden />
        {t("stripeSecured")}
      </p>
    </form>
  );
}

function ErrorPanel({ title, message, action }: { title?: string; message: string; action?: ReactNode }) {
  const t = useTranslations("pay");
  return (
    <div
      role="alert"
      data-testid="payment-error"
      className="flex items-start gap-2 rounded-lg border border-destructive/30 bg-destructive/10 p-3 text-destructive text-sm"
    >
      <CircleX className="mt-0.5 size-4 shrink-0" aria-hidden />
      <div className="flex-1">
        <p className="font-medium">{title ?? t("errorTitle")}</p>
        <p className="mt-0.5">{message}</p>
      </div>
      {action}
    </div>
  );
}

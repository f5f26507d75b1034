"use client";

import { Elements, PaymentElement, useElements, useStripe } from "@stripe/react-stripe-js";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { FlaskConical, LoaderCircle } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useTheme } from "next-themes";
import { type FormEvent, useEffect, useId, useState } from "react";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { type AutoTopUpView, confirmSandboxSetup, saveCard, startCardSetup } from "./auto-top-up-api";
import { ApiError, creditsKeys } from "./credits-api";
import { loadStripeWithin } from "./stripe-payment-form";

/** Stripe's test cards for saving a card (the README's auto top-up section says what each does). */
const SETUP_TEST_CARDS = [
  { number: "4242 4242 4242 4242", label: "testCardSucceeds" },
  { number: "4000 0025 0000 3155", label: "testCardAuthOnce" },
  { number: "4000 0027 6000 3184", label: "testCardAlwaysAuth" },
  { number: "4000 0000 0000 0341", label: "testCardChargeFails" },
  { number: "4000 0000 0000 9995", label: "testCardInsufficient" },
] as const;

/**
 * "Save a card": a SetupIntent made when the dialog opens, confirmed by the sandbox's card form or Stripe's
 * Payment Element in setup mode; then the server reads it back and keeps the card (brand, last four).
 */
export function SaveCardDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const t = useTranslations("autoTopUp");
  const common = useTranslations("common");
  const queryClient = useQueryClient();
  const setup = useMutation({ mutationFn: startCardSetup });
  const { mutate, reset } = setup;
  useEffect(() => {
    if (open) mutate();
    else reset();
  }, [open, mutate, reset]);

  async function saved(setupIntentId: string) {
    const view = await saveCard(setupIntentId);
    queryClient.setQueryData<AutoTopUpView>(creditsKeys.autoTopUp, view);
    onClose();
  }

  return (
    <Dialog open={open} onOpenChange={(next) => (next ? undefined : onClose())}>
      {open ? (
        <DialogContent closeLabel={common("close")} onInteractOutside={(event) => event.preventDefault()}>
          <DialogHeader>
            <DialogTitle>{t("setupTitle")}</DialogTitle>
            <DialogDescription>{t("setupDescription")}</DialogDescription>
          </DialogHeader>
          {setup.isError ? (
            <div role="alert" className="flex flex-col gap-3 text-sm">
              <p className="text-destructive">{t("setupFailed")}</p>
              <Button variant="outline" onClick={() => mutate()}>
                {common("tryAgain")}
              </Button>
            </div>
          ) : !setup.data ? (
            <p role="status" className="flex items-center gap-2 text-muted-foreground text-sm">
              <LoaderCircle className="size-4 animate-spin" aria-hidden />
              {t("setupStarting")}
            </p>
          ) : setup.data.provider === "sandbox" ? (
            <SandboxSetupForm setupIntentId={setup.data.setupIntentId} onSaved={saved} />
          ) : (
            <StripeSetupForm
              clientSecret={setup.data.clientSecret}
              publishableKey={setup.data.publishableKey}
              setupIntentId={setup.data.setupIntentId}
              onSaved={saved}
            />
          )}
        </DialogContent>
      ) : null}
    </Dialog>
  );
}

type FormProps = { setupIntentId: string; onSaved: (setupIntentId: string) => Promise<void> };

function SandboxSetupForm({ setupIntentId, onSaved }: FormProps) {
  const t = useTranslations("autoTopUp");
  const pay = useTranslations("pay");
  const id = useId();
  const [cardNumber, setCardNumber] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const digits = cardNumber.replace(/\D/g, "");
    if (digits.length < 12) {
      setError(t("setupInvalid"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await confirmSandboxSetup(setupIntentId, digits);
      await onSaved(setupIntentId);
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 402
          ? t("setupDeclined")
          : failure instanceof ApiError && failure.code === "invalid_card"
            ? t("setupInvalid")
            : t("setupFailed"),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4">
      <div className="flex gap-3 rounded-lg border border-warning/50 bg-warning/10 p-3 text-sm">
        <FlaskConical className="mt-0.5 size-4 shrink-0" aria-hidden />
        <div>
          <p className="font-medium">{pay("testModeTitle")}</p>
          <p className="mt-0.5 text-muted-foreground">{pay("testModeText")}</p>
        </div>
      </div>
      <div className="flex flex-col gap-2">
        <Label htmlFor={`${id}-card`}>{pay("cardNumber")}</Label>
        <Input
          id={`${id}-card`}
          inputMode="numeric"
          autoComplete="cc-number"
          className="font-mono tracking-wide"
          value={cardNumber}
          maxLength={23}
          onChange={(event) => setCardNumber(event.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          disabled={busy}
        />
      </div>
      <div className="rounded-lg border bg-muted/40 p-3">
        <p className="mb-2 font-medium text-muted-foreground text-xs uppercase tracking-wide">
          {pay("testCardsTitle")}
        </p>
        <ul className="flex flex-col gap-1">
          {SETUP_TEST_CARDS.map((card) => (
            <li key={card.number} className="flex flex-wrap items-center justify-between gap-x-3 text-sm">
              <button
                type="button"
                onClick={() => setCardNumber(card.number)}
                disabled={busy}
                className="rounded-sm font-mono tabular-nums underline-offset-4 hover:underline focus-visible:outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50"
              >
                {card.number}
              </button>
              <span className="text-muted-foreground text-xs">{t(card.label)}</span>
            </li>
          ))}
        </ul>
      </div>
      {error ? (
        <p id={`${id}-error`} role="alert" className="text-destructive text-sm">
          {error}
        </p>
      ) : null}
      <Button type="submit" disabled={busy} aria-busy={busy}>
        {busy ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
        {busy ? t("setupSaving") : t("setupSave")}
      </Button>
    </form>
  );
}

function StripeSetupForm({
  clientSecret,
  publishableKey,
  ...rest
}: FormProps & { clientSecret: string; publishableKey: string | null }) {
  const t = useTranslations("autoTopUp");
  const locale = useLocale();
  const { resolvedTheme } = useTheme();
  const stripeJs = useQuery({
    queryKey: ["stripe.js", publishableKey],
    queryFn: () => loadStripeWithin(publishableKey ?? "", 15_000),
    enabled: publishableKey !== null,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: Number.POSITIVE_INFINITY,
    retry: false,
    structuralSharing: false,
  });
  if (!publishableKey || stripeJs.isError)
    return (
      <p role="alert" className="text-destructive text-sm">
        {t("setupFailed")}
      </p>
    );
  if (!stripeJs.data)
    return (
      <p role="status" className="flex items-center gap-2 text-muted-foreground text-sm">
        <LoaderCircle className="size-4 animate-spin" aria-hidden />
        {t("setupStarting")}
      </p>
    );
  return (
    <Elements
      stripe={stripeJs.data}
      options={{
        clientSecret,
        locale: locale === "zh" ? "zh" : "en",
        appearance: { theme: resolvedTheme === "dark" ? "night" : "stripe" },
      }}
    >
      <StripeSetupConfirm {...rest} />
    </Elements>
  );
}

function StripeSetupConfirm({ setupIntentId, onSaved }: FormProps) {
  const t = useTranslations("autoTopUp");
  const stripe = useStripe();
  const elements = useElements();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!stripe || !elements) return;
    setBusy(true);
    setError(null);
    // Authentication (3D Secure) happens here, with the cardholder present; no redirect for cards.
    const result = await stripe.confirmSetup({ elements, redirect: "if_required" });
    if (result.error) {
      setError(result.error.message ?? t("setupDeclined"));
      setBusy(false);
      return;
    }
    try {
      await onSaved(setupIntentId);
    } catch {
      setError(t("setupFailed"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="flex flex-col gap-4">
      <PaymentElement />
      {error ? (
        <p role="alert" className="text-destructive text-sm">
          {error}
        </p>
      ) : null}
      <Button type="submit" disabled={busy || !stripe} aria-busy={busy}>
        {busy ? t("setupSaving") : t("setupSave")}
      </Button>
    </form>
  );
}

"use client";

import { CircleX, FlaskConical, LoaderCircle, Lock } from "lucide-react";
import { useTranslations } from "next-intl";
import { type FormEvent, useId, useRef, useState } from "react";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { confirmSandboxPayment } from "./credits-api";
import type { PaymentCallbacks } from "./pay-dialog";

const TEST_CARDS = [
  { number: "4242 4242 4242 4242", label: "testCardSucceeds" },
  { number: "4000 0000 0000 0002", label: "testCardDeclined" },
  { number: "4000 0000 0000 9995", label: "testCardInsufficient" },
] as const;

type FormState =
  | { kind: "idle" }
  | { kind: "submitting" }
  | { kind: "invalid"; message: string }
  | { kind: "declined"; message: string }
  | { kind: "error"; message: string; retryable: boolean };

/** Groups digits by four as the user types, the way card numbers are printed. */
function formatCardNumber(value: string): string {
  return value
    .replace(/\D/g, "")
    .slice(0, 19)
    .replace(/(\d{4})(?=\d)/g, "$1 ");
}

export function SandboxPaymentForm({
  paymentIntentId,
  price,
  onSucceeded,
  onFailed,
}: { paymentIntentId: string; price: string } & PaymentCallbacks) {
  const t = useTranslations("pay");
  const id = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const [cardNumber, setCardNumber] = useState("");
  const [state, setState] = useState<FormState>({ kind: "idle" });
  const submitting = state.kind === "submitting";

  function declineMessage(declineCode: string | null): string {
    if (declineCode === "insufficient_funds") return t("declinedInsufficientFunds");
    return t("declinedGeneric");
  }

  async function pay() {
    const digits = cardNumber.replace(/\D/g, "");
    if (digits.length === 0) {
      setState({ kind: "invalid", message: t("cardRequired") });
      inputRef.current?.focus();
      return;
    }
    if (digits.length < 12) {
      setState({ kind: "invalid", message: t("invalidCard") });
      inputRef.current?.focus();
      return;
    }
    setState({ kind: "submitting" });
    try {
      const result = await confirmSandboxPayment(paymentIntentId, digits);
      if (result.ok) {
        onSucceeded();
        return;
      }
      if (result.kind === "declined") {
        const message = declineMessage(result.declineCode);
        setState({ kind: "declined", message });
        onFailed(message);
      } else if (result.kind === "invalid_card") {
        setState({ kind: "invalid", message: t("invalidCard") });
        inputRef.current?.focus();
      } else {
        const message = result.message ?? t("paymentFailed");
        setState({ kind: "error", message, retryable: result.status >= 500 || result.status === 429 });
        onFailed(message);
      }
    } catch {
      const message = t("networkError");
      setState({ kind: "error", message, retryable: true });
      onFailed(message);
    }
  }

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!submitting) void pay();
  }

  function fillTestCard(number: string) {
    setCardNumber(number);
    setState({ kind: "idle" });
    inputRef.current?.focus();
  }

  const cardError = state.kind === "invalid" ? state.message : null;
  const paymentError = state.kind === "declined" || state.kind === "error" ? state : null;

  return (
    <form onSubmit={onSubmit} noValidate className="flex flex-col gap-5" data-testid="sandbox-form">
      <div className="flex gap-3 rounded-lg border border-warning/50 bg-warning/10 p-3 text-sm">
        <FlaskConical className="mt-0.5 size-4 shrink-0" aria-hidden />
        <div>
          <p className="font-medium" data-testid="sandbox-banner">
            {t("testModeTitle")}
          </p>
          <p className="mt-0.5 text-muted-foreground">{t("testModeText")}</p>
        </div>
      </div>

      <div className="flex flex-col gap-2">
        <Label htmlFor={`${id}-card`}>{t("cardNumber")}</Label>
        <Input
          ref={inputRef}
          id={`${id}-card`}
          name="cardNumber"
          inputMode="numeric"
          autoComplete="cc-number"
          placeholder={t("cardNumberPlaceholder")}
          className="font-mono tracking-wide"
          value={cardNumber}
          maxLength={23}
          onChange={(event) => {
            setCardNumber(formatCardNumber(event.target.value));
            if (state.kind !== "submitting") setState({ kind: "idle" });
          }}
          disabled={submitting}
          aria-invalid={cardError ? true : undefined}
          aria-describedby={cardError ? `${id}-card-error` : undefined}
          data-testid="sandbox-card-number"
        />
        {cardError ? (
          <p id={`${id}-card-error`} className="text-destructive text-sm" data-testid="card-error">
            {cardError}
          </p>
        ) : null}
      </div>

      <div className="grid grid-cols-2 gap-3">
        <div className="flex flex-col gap-2">
          <Label htmlFor={`${id}-expiry`}>{t("expiry")}</Label>
          <Input
            id={`${id}-expiry`}
            placeholder={t("expiryPlaceholder")}
            autoComplete="off"
            readOnly
            tabIndex={-1}
          />
        </div>
        <div className="flex flex-col gap-2">
          <Label htmlFor={`${id}-cvc`}>{t("cvc")}</Label>
          <Input
            id={`${id}-cvc`}
            placeholder={t("cvcPlaceholder")}
            autoComplete="off"
            readOnly
            tabIndex={-1}
          />
        </div>
      </div>

      <div className="rounded-lg border bg-muted/40 p-3">
        <p className="mb-2 font-medium text-muted-foreground text-xs uppercase tracking-wide">
          {t("testCardsTitle")}
        </p>
        <ul className="flex flex-col gap-1" data-testid="sandbox-test-cards">
          {TEST_CARDS.map((card) => (
            <li key={card.number} className="flex items-center justify-between gap-3 text-sm">
              <button
                type="button"
                onClick={() => fillTestCard(card.number)}
                disabled={submitting}
                className="rounded-sm font-mono text-foreground tabular-nums underline-offset-4 hover:underline focus-visible:outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50"
                title={t("useTestCard")}
              >
                {card.number}
              </button>
              <span className="text-right text-muted-foreground text-xs">{t(card.label)}</span>
            </li>
          ))}
        </ul>
      </div>

      {paymentError ? (
        <div
          role="alert"
          data-testid="payment-error"
          className="flex items-start gap-2 rounded-lg border border-destructive/30 bg-destructive/10 p-3 text-destructive text-sm"
        >
          <CircleX className="mt-0.5 size-4 shrink-0" aria-hidden />
          <div className="flex-1">
            <p className="font-medium">{t("errorTitle")}</p>
            <p className="mt-0.5">{paymentError.message}</p>
          </div>
          {paymentError.kind === "error" && paymentError.retryable ? (
            <Button
              type="button"
              size="sm"
              variant="outline"
              className="text-foreground"
              onClick={() => void pay()}
              data-testid="payment-retry"
            >
              {t("retry")}
            </Button>
          ) : null}
        </div>
      ) : null}

      <Button type="submit" size="lg" disabled={submitting} data-testid="sandbox-pay">
        {submitting ? <LoaderCircle className="animate-spin" aria-hidden /> : <Lock aria-hidden />}
        {submitting ? t("processing") : t("pay", { price })}
      </Button>
    </form>
  );
}

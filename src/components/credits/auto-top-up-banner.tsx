"use client";

import { CircleAlert, ShieldAlert, TriangleAlert } from "lucide-react";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { findPackageOnSale } from "@/catalog/packages";
import { Button } from "@/components/ui/button";
import type { AutoTopUpView } from "./auto-top-up-api";
import { type Checkout, PayDialog } from "./pay-dialog";
import { useAutoTopUp } from "./use-auto-top-up";

/**
 * The auto top-up banner above the balance: a top-up waiting for the cardholder (with "Complete payment",
 * which opens the pay dialog on that PaymentIntent: the Payment Element, or the sandbox's card form), a
 * declined top-up, auto top-up turned off (after three declines, or its package no longer sold), the
 * monthly limit reached, or a top-up waiting for the payment provider to answer. The server decides
 * which (GET /api/credits/auto-top-up `status`, `disabledReason`).
 */
export function AutoTopUpBanner({
  initial,
  provider,
  publishableKey,
}: {
  initial: AutoTopUpView | null;
  provider: "stripe" | "sandbox";
  publishableKey: string | null;
}) {
  const t = useTranslations("autoTopUp");
  const { data } = useAutoTopUp(initial);
  const [checkout, setCheckout] = useState<Checkout | null>(null);
  if (!data) return null;
  const action = data.action;
  const pkg = findPackageOnSale(
    data.attempts.find((attempt) => attempt.id === action?.attemptId)?.packageId ?? "",
  );
  const tone =
    data.status === "action_required"
      ? "border-warning/50 bg-warning/10"
      : data.status === "cap_reached" || data.status === "waiting_for_provider"
        ? "border-border bg-muted/40"
        : "border-destructive/30 bg-destructive/10";
  const content =
    data.status === "action_required"
      ? { icon: ShieldAlert, title: t("bannerActionTitle"), text: t("bannerActionText") }
      : data.status === "failed"
        ? { icon: CircleAlert, title: t("bannerFailedTitle"), text: t("bannerFailedText") }
        : data.status === "disabled"
          ? {
              icon: CircleAlert,
              title: t("bannerDisabledTitle"),
              text:
                data.disabledReason === "package_unavailable"
                  ? t("bannerPackageGoneText")
                  : data.disabledReason === "price_above_limit"
                    ? t("bannerPriceAboveLimitText")
                    : t("bannerDisabledText"),
            }
          : data.status === "cap_reached"
            ? { icon: TriangleAlert, title: t("bannerCapTitle"), text: t("bannerCapText") }
            : data.status === "waiting_for_provider"
              ? { icon: TriangleAlert, title: t("bannerWaitingTitle"), text: t("bannerWaitingText") }
              : null;
  if (!content) return null;
  const Icon = content.icon;
  return (
    <>
      <div
        role={
          data.status === "action_required" ||
          data.status === "cap_reached" ||
          data.status === "waiting_for_provider"
            ? "status"
            : "alert"
        }
        className={`flex flex-col gap-3 rounded-lg border px-3 py-2.5 text-sm sm:flex-row sm:items-center ${tone}`}
      >
        <Icon className="hidden size-4 shrink-0 sm:block" aria-hidden />
        <p className="flex-1">
          <span className="font-medium">{content.title}</span> <span>{content.text}</span>
        </p>
        {data.status === "action_required" && action && pkg ? (
          <Button
            size="sm"
            onClick={() =>
              setCheckout({
                kind: "package",
                pkg,
                purchaseId: action.purchaseId,
                paymentIntentId: action.paymentIntentId,
                clientSecret: action.clientSecret,
                provider,
                publishableKey,
              })
            }
          >
            {t("bannerActionButton")}
          </Button>
        ) : null}
      </div>
      <PayDialog checkout={checkout} onClose={() => setCheckout(null)} />
    </>
  );
}

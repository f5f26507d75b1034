"use client";

import { useQueryClient } from "@tanstack/react-query";
import { CircleCheck, Info, LoaderCircle } from "lucide-react";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { creditsKeys } from "./credits-api";
import {
  PLAN_IN_FORCE,
  type SubscriptionWait,
  useSubscription,
  useSubscriptionActivation,
} from "./use-subscription";

/**
 * What the credits page says when Stripe Checkout sends the customer back (`?checkout=success` or
 * `?checkout=canceled`, the URLs the Stripe provider gives the session). Back from a payment, the plan
 * starts when Stripe's `invoice.paid` arrives, usually seconds later: the notice says so and waits for the
 * subscription to be in force (useSubscriptionActivation), then refreshes the balance and history. Back
 * without paying, it says nothing was charged.
 */
export function CheckoutReturnNotice({ outcome }: { outcome: "success" | "canceled" }) {
  const t = useTranslations("subscription");
  const queryClient = useQueryClient();
  const { data: subscription } = useSubscription();
  const [startedAt] = useState(() => Date.now());
  const [settled, setSettled] = useState(false);
  const inForce = PLAN_IN_FORCE.has(subscription?.status ?? "");
  const wait: SubscriptionWait | null =
    outcome === "success" && subscription && !inForce ? { subscriptionId: subscription.id, startedAt } : null;
  useSubscriptionActivation(wait, () => {
    setSettled(true);
    void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
  });

  const [title, text, icon] =
    outcome === "canceled"
      ? [
          t("checkoutCanceledTitle"),
          t("checkoutCanceledText"),
          <Info key="i" className="size-4 shrink-0" aria-hidden />,
        ]
      : inForce
        ? [
            t("checkoutDoneTitle"),
            t("checkoutDoneText"),
            <CircleCheck key="i" className="size-4 shrink-0 text-success" aria-hidden />,
          ]
        : settled
          ? [
              t("checkoutSlowTitle"),
              t("checkoutSlowText"),
              <Info key="i" className="size-4 shrink-0" aria-hidden />,
            ]
          : [
              t("checkoutWaitingTitle"),
              t("checkoutWaitingText"),
              <LoaderCircle key="i" className="size-4 shrink-0 animate-spin" aria-hidden />,
            ];
  return (
    <div
      className="flex items-start gap-3 rounded-lg border bg-muted/40 p-4 text-sm"
      role="status"
      data-testid="checkout-return"
    >
      <span className="mt-0.5">{icon}</span>
      <div className="flex flex-col gap-1">
        <p className="font-medium">{title}</p>
        <p className="text-muted-foreground">{text}</p>
      </div>
    </div>
  );
}

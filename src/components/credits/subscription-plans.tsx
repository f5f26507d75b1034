"use client";

import { useMutation } from "@tanstack/react-query";
import { LoaderCircle } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useState } from "react";
import { toast } from "sonner";
import { PlanCard, usePlanName } from "@/components/pricing/plan-card";
import { Button } from "@/components/ui/button";
import { Skeleton } from "@/components/ui/skeleton";
import { usePathname, useRouter } from "@/i18n/navigation";
import type { PaymentClientConfig } from "./buy-packages";
import { ApiError } from "./credits-api";
import { CurrentPlanCard } from "./current-plan-card";
import { type Checkout, PayDialog } from "./pay-dialog";
import { type PlanOnSale, type Subscription, startSubscription } from "./subscription-api";
import { LIVE_STATUSES, PLAN_IN_FORCE, usePlans, useSubscription } from "./use-subscription";

const SUBSCRIBE_ERROR_KEYS: Record<string, string> = {
  plan_unavailable: "subscription.subscribeErrorPlanUnavailable",
  subscription_exists: "subscription.subscribeErrorExists",
  payment_provider_unavailable: "credits.buyErrorProviderUnavailable",
  rate_limited: "credits.buyErrorRateLimited",
};

/**
 * The plans part of the credits page: the user's current plan (with cancel and, in test mode, the clock),
 * then every plan on sale. "Subscribe" asks the server to start the subscription (it decides the price),
 * then pays the first invoice in the same pay dialog as the packages (the sandbox), or goes to Stripe
 * Checkout. Credits arrive with the paid invoice, never before.
 */
export function SubscriptionPlans({
  paymentConfig,
  initialSubscription,
}: {
  paymentConfig: PaymentClientConfig;
  initialSubscription?: Subscription | null;
}) {
  const t = useTranslations();
  const locale = useLocale();
  const router = useRouter();
  const pathname = usePathname();
  const planName = usePlanName();
  const plans = usePlans();
  const subscriptionQuery = useSubscription(initialSubscription);
  const subscription = subscriptionQuery.data ?? null;
  const start = useMutation({ mutationFn: startSubscription });
  const pendingPlanId = start.isPending ? start.variables : null;
  const [checkout, setCheckout] = useState<Checkout | null>(null);

  const inForce = subscription !== null && PLAN_IN_FORCE.has(subscription.status);
  // The plan the user is on: a paid one while it is in force, else the free plan.
  const currentPlanId = inForce ? subscription.planId : "free";
  // Another subscription cannot start while one is live (the server answers subscription_exists).
  const live = subscription !== null && LIVE_STATUSES.has(subscription.status);
  const awaitingPayment = subscription?.status === "incomplete" ? subscription.planId : null;
  // A trial is once per user ever: shown to someone who never subscribed, or whose subscription says so
  // (the server-rendered first answer does not say: then it waits for the JSON API's, never promising a
  // trial the user already had).
  const trialAvailable = subscription === null || subscription.trialAvailable === true;

  async function subscribe(plan: PlanOnSale) {
    if (pendingPlanId) return;
    const retry = { label: t("common.tryAgain"), onClick: () => void subscribe(plan) };
    try {
      const started = await start.mutateAsync(plan.id);
      if (started.provider === "stripe") {
        // Stripe Checkout collects the card and the first payment; the webhook grants when it is paid.
        window.location.assign(started.checkoutUrl);
        return;
      }
      setCheckout({
        kind: "plan",
        plan,
        subscriptionId: started.subscriptionId,
        paymentIntentId: started.paymentIntentId,
        clientSecret: started.clientSecret,
        provider: "sandbox",
        publishableKey: null,
        trial: started.trial ?? null,
      });
    } catch (error) {
      if (!(error instanceof ApiError && error.code)) {
        toast.error(t("subscription.subscribeError"), { action: retry });
      } else if (error.code === "unauthorized") {
        router.push({ pathname: "/sign-in", query: { next: `/${locale}${pathname}` } });
      } else {
        const key = SUBSCRIBE_ERROR_KEYS[error.code];
        toast.error(key ? t(key) : error.message || t("subscription.subscribeError"), {
          action: error.retryable ? retry : undefined,
        });
      }
    }
  }

  const plansById = new Map((plans.data ?? []).map((plan) => [plan.id, plan]));
  const shownPlan = subscription ? plansById.get(subscription.planId) : undefined;

  function action(plan: PlanOnSale) {
    const loading = pendingPlanId === plan.id;
    if (plan.id === currentPlanId) {
      return (
        <Button className="w-full" variant="outline" disabled data-testid={`subscribe-${plan.id}`}>
          {t("subscription.currentPlan")}
        </Button>
      );
    }
    if (plan.price.amount === 0) {
      return (
        <p className="w-full text-center text-muted-foreground text-sm">{t("subscription.backToFree")}</p>
      );
    }
    const completing = awaitingPayment === plan.id;
    return (
      <Button
        className="w-full"
        variant={completing ? "default" : "outline"}
        onClick={() => void subscribe(plan)}
        disabled={pendingPlanId !== null || (live && !completing)}
        aria-busy={loading}
        aria-label={completing ? undefined : t("subscription.subscribeTo", { name: planName(plan) })}
        data-testid={`subscribe-${plan.id}`}
      >
        {loading ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
        {completing ? t("subscription.completePayment") : t("subscription.subscribe")}
      </Button>
    );
  }

  return (
    <section aria-labelledby="plans-title" className="flex flex-col gap-6" data-testid="subscription-plans">
      <div>
        <h2 id="plans-title" className="font-semibold text-xl tracking-tight">
          {t("subscription.title")}
        </h2>
        <p className="mt-1 text-muted-foreground text-sm">{t("subscription.subtitle")}</p>
      </div>

      {subscription ? (
        <CurrentPlanCard
          subscription={subscription}
          plan={shownPlan}
          sandbox={paymentConfig.provider === "sandbox"}
          completing={pendingPlanId !== null}
          onCompletePayment={shownPlan ? () => void subscribe(shownPlan) : undefined}
        />
      ) : null}

      {plans.isError ? (
        <div
          role="alert"
          className="flex flex-col items-center gap-3 rounded-xl border px-6 py-8 text-center"
        >
          <p className="text-destructive text-sm">{t("subscription.plansError")}</p>
          <Button variant="outline" size="sm" onClick={() => void plans.refetch()}>
            {t("common.tryAgain")}
          </Button>
        </div>
      ) : plans.data ? (
        <>
          {live && subscription?.status !== "incomplete" ? (
            <p className="text-muted-foreground text-sm" data-testid="plan-change-note">
              {t("subscription.changeLater")}
            </p>
          ) : null}
          <div className="grid items-stretch gap-6 pt-2 sm:grid-cols-2">
            {plans.data.map((plan) => (
              <PlanCard
                key={plan.id}
                plan={plan}
                current={plan.id === currentPlanId}
                action={action(plan)}
                trialAvailable={trialAvailable}
              />
            ))}
          </div>
        </>
      ) : (
        <div className="grid gap-6 pt-2 sm:grid-cols-2" data-testid="plans-loading">
          {[0, 1].map((index) => (
            <Skeleton key={index} className="h-72 rounded-xl" />
          ))}
        </div>
      )}
      <PayDialog checkout={checkout} onClose={() => setCheckout(null)} />
    </section>
  );
}

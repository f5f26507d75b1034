import type { Metadata } from "next";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { requireSession } from "@/auth/require-session";
import { AdminPasswordNotice } from "@/components/credits/admin-password-notice";
import { AutoTopUpBanner } from "@/components/credits/auto-top-up-banner";
import { AutoTopUpCard } from "@/components/credits/auto-top-up-card";
import { BalanceCard } from "@/components/credits/balance-card";
import { BuyPackages } from "@/components/credits/buy-packages";
import { CheckoutReturnNotice } from "@/components/credits/checkout-return-notice";
import { ExpiringCreditsCard } from "@/components/credits/expiring-credits";
import { LowBalanceAlertCard } from "@/components/credits/low-balance-alert-card";
import { SubscriptionPlans } from "@/components/credits/subscription-plans";
import { TransactionHistory } from "@/components/credits/transaction-history";
import { UsageAnalytics } from "@/components/credits/usage-analytics";
import { VerifyEmailNotice } from "@/components/credits/verify-email-notice";
import { getServerEnv } from "@/config/env";
import { getPaymentClientConfig } from "@/payment/client-config";
import { freePlan } from "@/payment/subscriptions/grant-free-plan-credits";
import {
  loadAutoTopUp,
  loadBalance,
  loadEmailVerified,
  loadExpiringCredits,
  loadLowBalanceAlert,
  loadSubscription,
} from "../../_loaders/load-credits";

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ buy?: string | string[]; checkout?: string | string[] }>;
};

export async function generateMetadata({ params }: Pick<PageProps, "params">): Promise<Metadata> {
  const { locale } = await params;
  const t = await getTranslations({ locale, namespace: "metadata" });
  return { title: t("creditsTitle") };
}

/** The Free plan's monthly credits, granted when the address is verified (0 when the plan is disabled). */
function freePlanCreditsOnVerification(): number {
  const plan = freePlan();
  return plan && !plan.disabled ? plan.creditsPerMonth : 0;
}

export default async function CreditsPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  const session = await requireSession(locale, `/${locale}/settings/credits`);
  const userId = session.user.id;
  const [{ buy, checkout }, t, balance, expiring, emailVerified, subscription, lowBalanceAlert, autoTopUp] =
    await Promise.all([
      searchParams,
      getTranslations("credits"),
      loadBalance(userId),
      loadExpiringCredits(userId),
      loadEmailVerified(),
      loadSubscription(userId),
      loadLowBalanceAlert(userId),
      loadAutoTopUp(userId),
    ]);
  // Only the provider and the publishable key leave the server; the key is read at run time, not build time.
  const paymentConfig = getPaymentClientConfig();

  return (
    <div className="flex flex-col gap-10">
      <div className="flex flex-col gap-6">
        {emailVerified ? null : (
          <VerifyEmailNotice
            userId={userId}
            email={session.user.email}
            // What verifying brings: the signup gift and the Free plan's credits of this month.
            giftCredits={getServerEnv().SIGNUP_GIFT_CREDITS + freePlanCreditsOnVerification()}
          />
        )}
        {emailVerified && session.user.awaitsAdminPassword ? (
          <AdminPasswordNotice email={session.user.email} />
        ) : null}
        <AutoTopUpBanner
          initial={autoTopUp}
          provider={paymentConfig.provider}
          publishableKey={paymentConfig.publishableKey}
        />
        <BalanceCard initialBalance={balance} initialLowBalanceAlert={lowBalanceAlert} />
        <ExpiringCreditsCard initialData={expiring} />
        <LowBalanceAlertCard initialAlert={lowBalanceAlert} />
        <AutoTopUpCard initial={autoTopUp} />
      </div>

      {checkout === "success" || checkout === "canceled" ? <CheckoutReturnNotice outcome={checkout} /> : null}
      <SubscriptionPlans paymentConfig={paymentConfig} initialSubscription={subscription} />

      <section aria-labelledby="buy-credits-title" className="flex flex-col gap-6">
        <div>
          <h2 id="buy-credits-title" className="font-semibold text-xl tracking-tight">
            {t("buyTitle")}
          </h2>
          <p className="mt-1 text-muted-foreground text-sm">{t("buySubtitle")}</p>
        </div>
        <BuyPackages paymentConfig={paymentConfig} autoBuy={typeof buy === "string" ? buy : null} />
      </section>

      <UsageAnalytics />

      <TransactionHistory />
    </div>
  );
}

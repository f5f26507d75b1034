import { getTranslations } from "next-intl/server";

/**
 * On every page while the operator runs the payment sandbox on purpose (PAYMENT_PROVIDER=sandbox): there
 * the test card buys credits for free, and nobody should mistake the site for one that takes payments.
 * The locale layout decides when (sandboxBannerShown in src/payment/payment-config.ts).
 */
export async function SandboxBanner() {
  const t = await getTranslations("sandboxBanner");
  return (
    <div
      role="status"
      data-testid="sandbox-banner"
      className="border-amber-300 border-b bg-amber-100 px-4 py-2 text-center text-amber-950 text-sm dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50"
    >
      <strong className="font-semibold">{t("title")}</strong> {t("body")}
    </div>
  );
}

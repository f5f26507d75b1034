import type { Metadata } from "next";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { requireSession } from "@/auth/require-session";
import { GenerateImageForm } from "@/components/features/generate-image-form";
import { COST_CATALOG } from "@/features/cost-catalog";
import { loadBalance } from "../_loaders/load-credits";

type PageProps = { params: Promise<{ locale: string }> };

export async function generateMetadata({ params }: PageProps): Promise<Metadata> {
  const { locale } = await params;
  const t = await getTranslations({ locale, namespace: "metadata" });
  return { title: t("generateTitle") };
}

export default async function GeneratePage({ params }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  const session = await requireSession(locale, `/${locale}/generate`);
  const [t, balance] = await Promise.all([getTranslations("generate"), loadBalance(session.user.id)]);

  return (
    <div className="mx-auto w-full max-w-6xl px-4 py-8 sm:px-6 sm:py-12">
      <div className="mb-8">
        <h1 className="font-semibold text-2xl tracking-tight sm:text-3xl">{t("title")}</h1>
        <p className="mt-1 text-muted-foreground">{t("subtitle")}</p>
      </div>
      <GenerateImageForm cost={COST_CATALOG["image.generate"].credits} initialBalance={balance} />
    </div>
  );
}

import { Zap } from "lucide-react";
import { getTranslations } from "next-intl/server";
import type { Balance } from "@/components/credits/credits-api";
import { Link } from "@/i18n/navigation";
import { HeaderBar, type HeaderUser } from "./header-bar";

/** What the header shows before the browser takes over: the signed-in user and their balance, or nulls. */
export type HeaderState = { user: HeaderUser | null; balance: Balance | null };

/**
 * The site's header. `initial` is what the server read for this request (the locale layout reads it with
 * src/app/[locale]/_loaders/load-header.ts); the bar keeps it fresh after.
 */
export async function SiteHeader({ initial }: { initial: HeaderState }) {
  const t = await getTranslations("common");

  return (
    <header className="sticky top-0 z-40 border-b bg-background/80 backdrop-blur supports-[backdrop-filter]:bg-background/70">
      <div className="mx-auto flex h-14 max-w-6xl items-center gap-3 px-4 sm:gap-6 sm:px-6">
        <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
          <span className="flex size-7 items-center justify-center rounded-lg bg-primary text-primary-foreground">
            <Zap className="size-4" aria-hidden />
          </span>
          <span>{t("productName")}</span>
        </Link>
        <HeaderBar initialUser={initial.user} initialBalance={initial.balance} />
      </div>
    </header>
  );
}

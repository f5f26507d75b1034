import { Zap } from "lucide-react";
import { headers } from "next/headers";
import { getTranslations } from "next-intl/server";
import { getSessionFromHeaders } from "@/auth/session";
import type { Balance } from "@/components/credits/credits-api";
import { loadBalance } from "@/components/credits/load-credits";
import { Link } from "@/i18n/navigation";
import { HeaderBar, type HeaderUser } from "./header-bar";

async function loadInitialState(): Promise<{ user: HeaderUser | null; balance: Balance | null }> {
  const session = await getSessionFromHeaders(await headers());
  if (!session) return { user: null, balance: null };
  const { id, name, email, role } = session.user;
  // The Admin link is only a shortcut: the admin pages and actions check the role themselves.
  const user = { id, name, email, isAdmin: role === "admin" };
  try {
    return { user, balance: await loadBalance(id) };
  } catch (error) {
    // The badge fetches the balance itself on the client; a failed lookup must not take the page down.
    console.error("header: could not load the balance", error);
    return { user, balance: null };
  }
}

export async function SiteHeader() {
  const [t, initial] = await Promise.all([getTranslations("common"), loadInitialState()]);

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

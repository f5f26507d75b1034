"use client";

import { useTranslations } from "next-intl";
import { authClient } from "@/auth/auth-client";
import type { Balance } from "@/components/credits/credits-api";
import { Button } from "@/components/ui/button";
import { Link, usePathname } from "@/i18n/navigation";
import { cn } from "@/lib/utils";
import { HeaderBalance } from "./header-balance";
import { LocaleSwitcher } from "./locale-switcher";
import { MobileMenu } from "./mobile-menu";
import { ThemeToggle } from "./theme-toggle";
import { UserMenu } from "./user-menu";

export type HeaderUser = { id: string; name: string; email: string; isAdmin?: boolean };

/**
 * The interactive part of the header. The server renders it with the session it saw; after that Better Auth's
 * session store keeps it current, so signing in or out updates the header without a full reload.
 */
export function HeaderBar({
  initialUser,
  initialBalance,
}: {
  initialUser: HeaderUser | null;
  initialBalance: Balance | null;
}) {
  const t = useTranslations("header");
  const pathname = usePathname();
  const session = authClient.useSession();
  // Until the client has its own answer (or when asking failed) the server's view of the session stands.
  const user: HeaderUser | null =
    session.isPending || session.error ? initialUser : (session.data?.user ?? null);
  const sameUser = user !== null && initialUser !== null && user.id === initialUser.id;
  const balanceSeed = sameUser ? initialBalance : null;
  // The role comes from the server's view of the session; after a switch of account the refresh brings it.
  const isAdmin = sameUser && initialUser?.isAdmin === true;
  const menuUser = user ? { ...user, isAdmin } : null;

  const navItems = [
    { href: { pathname: "/", hash: "pricing" }, label: t("pricing"), active: pathname === "/" },
    ...(user
      ? [
          { href: "/generate", label: t("generate"), active: pathname.startsWith("/generate") },
          { href: "/settings/credits", label: t("credits"), active: pathname.startsWith("/settings") },
        ]
      : []),
    ...(isAdmin ? [{ href: "/admin", label: t("admin"), active: pathname.startsWith("/admin") }] : []),
  ];

  return (
    <>
      <nav aria-label={t("mainNav")} className="hidden items-center gap-1 md:flex">
        {navItems.map((item) => (
          <Link
            key={item.label}
            href={item.href}
            className={cn(
              "rounded-md px-3 py-1.5 font-medium text-muted-foreground text-sm transition-colors hover:bg-accent hover:text-foreground",
              item.active && "text-foreground",
            )}
          >
            {item.label}
          </Link>
        ))}
      </nav>
      <div className="ml-auto flex items-center gap-1 sm:gap-1.5">
        {user ? <HeaderBalance initialBalance={balanceSeed} /> : null}
        <LocaleSwitcher />
        <ThemeToggle />
        <div className="hidden items-center gap-1.5 md:flex">
          {menuUser ? (
            <UserMenu user={menuUser} />
          ) : (
            <>
              <Button asChild variant="ghost" size="sm">
                <Link href="/sign-in">{t("signIn")}</Link>
              </Button>
              <Button asChild size="sm">
                <Link href="/sign-up">{t("signUp")}</Link>
              </Button>
            </>
          )}
        </div>
        <MobileMenu user={menuUser} />
      </div>
    </>
  );
}

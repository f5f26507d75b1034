"use client";

import { ImagePlus, LogIn, LogOut, Menu, ShieldCheck, Tag, UserPlus, Zap } from "lucide-react";
import { useTranslations } from "next-intl";
import { Button } from "@/components/ui/button";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuLabel,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";
import { Link } from "@/i18n/navigation";
import type { HeaderUser } from "./header-bar";
import { useSignOut } from "./use-sign-out";

/** Below the md breakpoint the nav links and the account actions fold into this one menu. */
export function MobileMenu({ user }: { user: HeaderUser | null }) {
  const t = useTranslations("header");
  const { signOut, isSigningOut } = useSignOut();

  return (
    <DropdownMenu>
      <DropdownMenuTrigger asChild>
        <Button variant="ghost" size="icon-sm" className="md:hidden" aria-label={t("openMenu")}>
          <Menu />
        </Button>
      </DropdownMenuTrigger>
      <DropdownMenuContent align="end" className="w-56">
        {user ? (
          <>
            <DropdownMenuLabel className="flex flex-col gap-0.5">
              <span className="truncate">{user.name}</span>
              <span className="truncate font-normal text-muted-foreground text-xs">{user.email}</span>
            </DropdownMenuLabel>
            <DropdownMenuSeparator />
          </>
        ) : null}
        <DropdownMenuItem asChild>
          <Link href={{ pathname: "/", hash: "pricing" }}>
            <Tag />
            {t("pricing")}
          </Link>
        </DropdownMenuItem>
        {user ? (
          <>
            <DropdownMenuItem asChild>
              <Link href="/generate">
                <ImagePlus />
                {t("generate")}
              </Link>
            </DropdownMenuItem>
            <DropdownMenuItem asChild>
              <Link href="/settings/credits">
                <Zap />
                {t("credits")}
              </Link>
            </DropdownMenuItem>
            {user.isAdmin ? (
              <DropdownMenuItem asChild>
                <Link href="/admin" data-testid="mobile-admin-link">
                  <ShieldCheck />
                  {t("admin")}
                </Link>
              </DropdownMenuItem>
            ) : null}
            <DropdownMenuSeparator />
            <DropdownMenuItem disabled={isSigningOut} onSelect={signOut}>
              <LogOut />
              {t("signOut")}
            </DropdownMenuItem>
          </>
        ) : (
          <>
            <DropdownMenuSeparator />
            <DropdownMenuItem asChild>
              <Link href="/sign-in">
                <LogIn />
                {t("signIn")}
              </Link>
            </DropdownMenuItem>
            <DropdownMenuItem asChild>
              <Link href="/sign-up">
                <UserPlus />
                {t("signUp")}
              </Link>
            </DropdownMenuItem>
          </>
        )}
      </DropdownMenuContent>
    </DropdownMenu>
  );
}

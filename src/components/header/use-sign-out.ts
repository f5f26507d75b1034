"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useTransition } from "react";
import { toast } from "sonner";
import { authClient } from "@/auth/auth-client";
import { useRouter } from "@/i18n/navigation";
import { creditsKeys } from "../credits/credits-api";

/** Signs out, drops the cached credits of the previous user and re-renders the server components. */
export function useSignOut(): { signOut: () => void; isSigningOut: boolean } {
  const t = useTranslations("header");
  const router = useRouter();
  const queryClient = useQueryClient();
  const [isSigningOut, startTransition] = useTransition();

  function signOut() {
    startTransition(async () => {
      const { error } = await authClient.signOut();
      if (error) {
        toast.error(t("signOutFailed"));
        return;
      }
      queryClient.removeQueries({ queryKey: creditsKeys.all });
      router.push("/");
      router.refresh();
    });
  }

  return { signOut, isSigningOut };
}

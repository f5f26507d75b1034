"use client";

import { Gift, LoaderCircle, MailCheck, X } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useState, useSyncExternalStore } from "react";
import { toast } from "sonner";
import { authClient } from "@/auth/auth-client";
import { Button } from "@/components/ui/button";

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener("storage", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("storage", listener);
  };
}

function readDismissed(key: string): boolean {
  try {
    return window.localStorage.getItem(key) === "1";
  } catch {
    return false;
  }
}

/**
 * Shown to users whose address is not verified yet: the sign-up gift is granted on verification, so this
 * is how they learn to claim it. Dismissing hides it in this browser; the gift still waits for them.
 */
export function VerifyEmailNotice({
  userId,
  email,
  giftCredits,
}: {
  userId: string;
  email: string;
  giftCredits: number;
}) {
  const t = useTranslations("credits");
  const locale = useLocale();
  const storageKey = `creditkit:verify-notice-dismissed:${userId}`;
  const dismissed = useSyncExternalStore(
    subscribe,
    () => readDismissed(storageKey),
    () => false,
  );
  const [sending, setSending] = useState(false);

  if (dismissed) return null;

  function dismiss() {
    try {
      window.localStorage.setItem(storageKey, "1");
    } catch {
      // Private mode without storage: the notice simply comes back on the next visit.
    }
    for (const listener of listeners) listener();
  }

  async function resend() {
    setSending(true);
    try {
      const { error } = await authClient.sendVerificationEmail({
        email,
        callbackURL: `/${locale}/settings/credits`,
      });
      if (error) toast.error(error.status === 429 ? t("verifyRateLimited") : t("verifyResendFailed"));
      else toast.success(t("verifyResent"));
    } catch {
      toast.error(t("verifyResendFailed"));
    } finally {
      setSending(false);
    }
  }

  const withGift = giftCredits > 0;
  const Icon = withGift ? Gift : MailCheck;

  return (
    <section
      data-testid="verify-email-notice"
      aria-labelledby="verify-email-title"
      className="relative flex flex-col gap-4 rounded-xl border border-primary/30 bg-primary/5 p-5 pr-12 sm:flex-row sm:items-center"
    >
      <span className="flex size-10 shrink-0 items-center justify-center rounded-full bg-primary/10 text-primary">
        <Icon className="size-5" aria-hidden />
      </span>
      <div className="min-w-0 flex-1">
        <h2 id="verify-email-title" className="font-medium">
          {withGift ? t("verifyTitle", { count: giftCredits }) : t("verifyTitleNoGift")}
        </h2>
        <p className="mt-1 text-muted-foreground text-sm">
          {withGift ? t("verifyText", { email }) : t("verifyTextNoGift", { email })}
        </p>
      </div>
      <Button
        variant="outline"
        size="sm"
        className="self-start sm:self-center"
        onClick={() => void resend()}
        disabled={sending}
        aria-busy={sending}
        data-testid="verify-email-resend"
      >
        {sending ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
        {t("verifyResend")}
      </Button>
      <button
        type="button"
        onClick={dismiss}
        aria-label={t("verifyDismiss")}
        data-testid="verify-email-dismiss"
        className="absolute top-3 right-3 rounded-sm p-1 text-muted-foreground opacity-70 transition-opacity hover:opacity-100 focus-visible:outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50"
      >
        <X className="size-4" aria-hidden />
      </button>
    </section>
  );
}

"use client";

import { KeyRound, LoaderCircle } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useState } from "react";
import { toast } from "sonner";
import { authClient } from "@/auth/auth-client";
import { Button } from "@/components/ui/button";

/**
 * Shown to a verified ADMIN_EMAILS account whose password was chosen at sign-up: the admin role follows
 * once the password is set from a link mailed to the address (src/auth/admin-role.ts says why). The link
 * was mailed when the address was verified; the button sends a fresh one.
 */
export function AdminPasswordNotice({ email }: { email: string }) {
  const t = useTranslations("credits");
  const locale = useLocale();
  const [sending, setSending] = useState(false);

  async function resend() {
    setSending(true);
    try {
      const { error } = await authClient.requestPasswordReset({
        email,
        redirectTo: `/${locale}/reset-password`,
      });
      if (error) toast.error(error.status === 429 ? t("verifyRateLimited") : t("verifyResendFailed"));
      else toast.success(t("adminPasswordSent"));
    } catch {
      toast.error(t("verifyResendFailed"));
    } finally {
      setSending(false);
    }
  }

  return (
    <section
      data-testid="admin-password-notice"
      aria-labelledby="admin-password-title"
      className="flex flex-col gap-4 rounded-xl border border-primary/30 bg-primary/5 p-5 sm:flex-row sm:items-center"
    >
      <span className="flex size-10 shrink-0 items-center justify-center rounded-full bg-primary/10 text-primary">
        <KeyRound className="size-5" aria-hidden />
      </span>
      <div className="min-w-0 flex-1">
        <h2 id="admin-password-title" className="font-medium">
          {t("adminPasswordTitle")}
        </h2>
        <p className="mt-1 text-muted-foreground text-sm">{t("adminPasswordText", { email })}</p>
      </div>
      <Button
        variant="outline"
        size="sm"
        className="self-start sm:self-center"
        onClick={() => void resend()}
        disabled={sending}
        aria-busy={sending}
        data-testid="admin-password-resend"
      >
        {sending ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
        {t("adminPasswordResend")}
      </Button>
    </section>
  );
}

"use client";

import { zodResolver } from "@hookform/resolvers/zod";
import { CircleCheck, CircleX, LoaderCircle } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useMemo, useState } from "react";
import { useForm } from "react-hook-form";
import { z } from "zod";
import { authClient } from "@/auth/auth-client";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Input } from "@/components/ui/input";

/**
 * "Forgot your password?": asks for a set-password link mailed to the address. The answer is the same
 * whether or not an account uses the address, so the form tells nobody who has an account.
 */
export function RequestPasswordLinkForm() {
  const t = useTranslations("auth");
  const locale = useLocale();
  const [formError, setFormError] = useState<string | null>(null);
  const [sentTo, setSentTo] = useState<string | null>(null);
  const schema = useMemo(() => z.object({ email: z.email(t("emailInvalid")) }), [t]);
  type Values = z.infer<typeof schema>;
  const form = useForm<Values>({ resolver: zodResolver(schema), defaultValues: { email: "" } });
  const { errors, isSubmitting } = form.formState;

  async function onSubmit(values: Values) {
    setFormError(null);
    try {
      const { error } = await authClient.requestPasswordReset({
        email: values.email,
        redirectTo: `/${locale}/reset-password`,
      });
      if (error) {
        setFormError(error.status === 429 ? t("errorRateLimited") : t("errorGeneric"));
        return;
      }
      setSentTo(values.email);
    } catch {
      setFormError(t("errorGeneric"));
    }
  }

  return (
    <form noValidate onSubmit={form.handleSubmit(onSubmit)} className="flex flex-col gap-5">
      {formError ? (
        <div
          role="alert"
          data-testid="auth-error"
          className="flex items-start gap-2 rounded-lg border border-destructive/30 bg-destructive/10 px-3 py-2.5 text-destructive text-sm"
        >
          <CircleX className="mt-0.5 size-4 shrink-0" aria-hidden />
          <span>{formError}</span>
        </div>
      ) : null}
      {sentTo ? (
        <p role="status" className="flex items-start gap-2 text-sm" data-testid="password-link-sent">
          <CircleCheck className="mt-0.5 size-4 shrink-0 text-primary" aria-hidden />
          <span>{t("requestSent", { email: sentTo })}</span>
        </p>
      ) : null}
      <Field id="email" label={t("email")} error={errors.email?.message}>
        <Input
          id="email"
          type="email"
          autoComplete="email"
          inputMode="email"
          placeholder={t("emailPlaceholder")}
          data-testid="email-input"
          aria-invalid={errors.email ? true : undefined}
          aria-describedby={errors.email ? "email-error" : undefined}
          {...form.register("email")}
        />
      </Field>
      <Button
        type="submit"
        size="lg"
        className="w-full"
        disabled={isSubmitting}
        data-testid="submit-password-link"
      >
        {isSubmitting ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
        {t("requestSubmit")}
      </Button>
    </form>
  );
}

"use client";

import { zodResolver } from "@hookform/resolvers/zod";
import { CircleCheck, CircleX, LoaderCircle } from "lucide-react";
import { useTranslations } from "next-intl";
import { useMemo, useState } from "react";
import { useForm } from "react-hook-form";
import { z } from "zod";
import { authClient } from "@/auth/auth-client";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Input } from "@/components/ui/input";
import { Link } from "@/i18n/navigation";

const PASSWORD_MIN = 8;

/**
 * The page a mailed set-password link leads to (Better Auth's reset token in the URL): the new password,
 * then a link to sign in with it. Setting it signs every session out (src/auth/auth.ts), and for an
 * ADMIN_EMAILS address it is the step that grants the role (src/auth/admin-role.ts).
 */
export function SetPasswordForm({ token }: { token: string }) {
  const t = useTranslations("auth");
  const [formError, setFormError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const schema = useMemo(() => z.object({ password: z.string().min(PASSWORD_MIN, t("passwordMin")) }), [t]);
  type Values = z.infer<typeof schema>;
  const form = useForm<Values>({ resolver: zodResolver(schema), defaultValues: { password: "" } });
  const { errors, isSubmitting } = form.formState;

  async function onSubmit(values: Values) {
    setFormError(null);
    try {
      const { error } = await authClient.resetPassword({ newPassword: values.password, token });
      if (error) {
        setFormError(
          error.code === "INVALID_TOKEN"
            ? t("resetInvalidToken")
            : error.status === 429
              ? t("errorRateLimited")
              : t("errorGeneric"),
        );
        return;
      }
      setDone(true);
    } catch {
      setFormError(t("errorGeneric"));
    }
  }

  if (done) {
    return (
      <div className="flex flex-col gap-5" data-testid="password-set">
        <p className="flex items-start gap-2 text-sm">
          <CircleCheck className="mt-0.5 size-4 shrink-0 text-primary" aria-hidden />
          <span>{t("resetDone")}</span>
        </p>
        <Button asChild size="lg" className="w-full">
          <Link href="/sign-in" data-testid="password-set-sign-in">
            {t("resetDoneSignIn")}
          </Link>
        </Button>
      </div>
    );
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
      <Field id="password" label={t("newPassword")} error={errors.password?.message} hint={t("passwordHint")}>
        <Input
          id="password"
          type="password"
          autoComplete="new-password"
          placeholder={t("passwordPlaceholder")}
          data-testid="password-input"
          aria-invalid={errors.password ? true : undefined}
          aria-describedby={errors.password ? "password-error" : "password-hint"}
          {...form.register("password")}
        />
      </Field>
      <Button
        type="submit"
        size="lg"
        className="w-full"
        disabled={isSubmitting}
        data-testid="submit-password"
      >
        {isSubmitting ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
        {t("resetSubmit")}
      </Button>
    </form>
  );
}

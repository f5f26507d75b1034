"use client";

import { zodResolver } from "@hookform/resolvers/zod";
import { useQueryClient } from "@tanstack/react-query";
import { CircleX, LoaderCircle } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useMemo, useState } from "react";
import { useForm } from "react-hook-form";
import { z } from "zod";
import { authClient } from "@/auth/auth-client";
import { safeNextPath } from "@/auth/safe-next-path";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Input } from "@/components/ui/input";
import { Link, useRouter } from "@/i18n/navigation";
import { creditsKeys } from "../credits/credits-api";

type Mode = "sign-in" | "sign-up";
type AuthError = { code?: string | undefined; message?: string | undefined; status?: number | undefined };

const PASSWORD_MIN = 8;

export function AuthForm({ mode, next }: { mode: Mode; next: string | null }) {
  const t = useTranslations("auth");
  const locale = useLocale();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [formError, setFormError] = useState<string | null>(null);

  const schema = useMemo(
    () =>
      z.object({
        name: mode === "sign-up" ? z.string().trim().min(1, t("nameRequired")) : z.string(),
        email: z.email(t("emailInvalid")),
        password: z.string().min(PASSWORD_MIN, t("passwordMin")),
      }),
    [mode, t],
  );
  type Values = z.infer<typeof schema>;

  const form = useForm<Values>({
    resolver: zodResolver(schema),
    defaultValues: { name: "", email: "", password: "" },
  });
  const { errors, isSubmitting } = form.formState;

  function describeAuthError(error: AuthError): string {
    const code = error.code ?? "";
    if (code.startsWith("USER_ALREADY_EXISTS")) return t("errorUserExists");
    if (code === "INVALID_EMAIL_OR_PASSWORD" || code === "INVALID_PASSWORD" || code === "INVALID_EMAIL") {
      return t("errorInvalidCredentials");
    }
    if (code === "PASSWORD_TOO_SHORT") return t("passwordMin");
    if (error.status === 429) return t("errorRateLimited");
    return t("errorGeneric");
  }

  async function onSubmit(values: Values) {
    setFormError(null);
    try {
      const { error } =
        mode === "sign-up"
          ? await authClient.signUp.email({
              name: values.name.trim(),
              email: values.email,
              password: values.password,
              // Where the verification link leads back to; its locale is also the email's language.
              callbackURL: `/${locale}/settings/credits`,
            })
          : await authClient.signIn.email({ email: values.email, password: values.password });
      if (error) {
        setFormError(describeAuthError(error));
        return;
      }
    } catch {
      setFormError(t("errorGeneric"));
      return;
    }
    // A different user may have been signed in before: never show their cached balance.
    queryClient.removeQueries({ queryKey: creditsKeys.all });
    router.push(safeNextPath(next) ?? "/settings/credits");
    router.refresh();
  }

  const isSignUp = mode === "sign-up";

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

      {isSignUp ? (
        <Field id="name" label={t("name")} error={errors.name?.message}>
          <Input
            id="name"
            autoComplete="name"
            placeholder={t("namePlaceholder")}
            data-testid="name-input"
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={errors.name ? "name-error" : undefined}
            {...form.register("name")}
          />
        </Field>
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

      <Field
        id="password"
        label={t("password")}
        error={errors.password?.message}
        hint={isSignUp ? t("passwordHint") : undefined}
      >
        <Input
          id="password"
          type="password"
          autoComplete={isSignUp ? "new-password" : "current-password"}
          placeholder={isSignUp ? t("passwordPlaceholder") : undefined}
          data-testid="password-input"
          aria-invalid={errors.password ? true : undefined}
          aria-describedby={errors.password ? "password-error" : isSignUp ? "password-hint" : undefined}
          {...form.register("password")}
        />
      </Field>

      {isSignUp ? null : (
        <Link
          href="/reset-password"
          className="-mt-2 self-end text-muted-foreground text-sm underline-offset-4 hover:text-foreground hover:underline"
          data-testid="forgot-password"
        >
          {t("forgotPassword")}
        </Link>
      )}

      <Button
        type="submit"
        size="lg"
        className="mt-1 w-full"
        disabled={isSubmitting}
        data-testid="submit-auth"
      >
        {isSubmitting ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
        {isSignUp ? t("signUpSubmit") : t("signInSubmit")}
      </Button>

      <p className="text-center text-muted-foreground text-sm">
        {isSignUp ? t("signUpSwitchPrompt") : t("signInSwitchPrompt")}{" "}
        <Link
          href={{ pathname: isSignUp ? "/sign-in" : "/sign-up", query: next ? { next } : {} }}
          className="font-medium text-foreground underline-offset-4 hover:underline"
        >
          {isSignUp ? t("signUpSwitchLink") : t("signInSwitchLink")}
        </Link>
      </p>
    </form>
  );
}

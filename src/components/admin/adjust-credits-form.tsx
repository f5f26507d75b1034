"use client";

import { zodResolver } from "@hookform/resolvers/zod";
import { useQueryClient } from "@tanstack/react-query";
import { CircleX, LoaderCircle, Minus, Plus } from "lucide-react";
import { useTranslations } from "next-intl";
import { useAction } from "next-safe-action/hooks";
import { useMemo, useState } from "react";
import { useForm } from "react-hook-form";
import { toast } from "sonner";
import { z } from "zod";
import { adjustCreditsAction } from "@/actions/admin";
import { creditsKeys } from "@/components/credits/credits-api";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Input } from "@/components/ui/input";
import { useRouter } from "@/i18n/navigation";

/**
 * Grants (positive) or takes away (negative) credits with a reason. The action checks the admin role itself
 * and records the change in the audit log in the same transaction.
 */
export function AdjustCreditsForm({ userId }: { userId: string }) {
  const t = useTranslations("admin");
  const router = useRouter();
  const queryClient = useQueryClient();
  const { executeAsync } = useAction(adjustCreditsAction);
  const [formError, setFormError] = useState<string | null>(null);

  const schema = useMemo(
    () =>
      z.object({
        amount: z
          .string()
          .trim()
          .regex(/^[-+]?\d{1,9}$/, t("adjustAmountInvalid"))
          .refine((value) => Number(value) !== 0, t("adjustAmountInvalid")),
        reason: z.string().trim().min(3, t("adjustReasonInvalid")).max(500, t("adjustReasonInvalid")),
        expireDays: z
          .string()
          .trim()
          .regex(/^\d{0,5}$/, t("adjustExpireDaysInvalid"))
          .refine((value) => value === "" || Number(value) > 0, t("adjustExpireDaysInvalid")),
      }),
    [t],
  );
  type Values = z.infer<typeof schema>;
  const form = useForm<Values>({
    resolver: zodResolver(schema),
    defaultValues: { amount: "", reason: "", expireDays: "" },
  });
  const { errors, isSubmitting } = form.formState;
  const amountValue = Number(form.watch("amount").trim());
  const delta = Number.isSafeInteger(amountValue) ? amountValue : 0;

  async function onSubmit(values: Values) {
    setFormError(null);
    const amount = Number(values.amount);
    const expireDays = values.expireDays ? Number(values.expireDays) : undefined;
    try {
      const result = await executeAsync({
        userId,
        delta: amount,
        reason: values.reason.trim(),
        ...(amount > 0 && expireDays ? { expireDays } : {}),
        // One id per submission: a double click or a retried request applies once.
        requestId: crypto.randomUUID(),
      });
      const error = result?.serverError;
      if (error || !result?.data) {
        setFormError(
          error?.code === "insufficient_credits"
            ? t("adjustInsufficient")
            : error?.code === "forbidden"
              ? t("errorForbidden")
              : t("errorGeneric"),
        );
        return;
      }
      toast.success(
        amount > 0 ? t("adjustGranted", { count: amount }) : t("adjustDeducted", { count: -amount }),
      );
      form.reset();
      router.refresh();
      // The history below is fetched in the browser: refreshing the server's part does not reach it.
      void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
    } catch {
      setFormError(t("errorGeneric"));
    }
  }

  return (
    <form noValidate onSubmit={form.handleSubmit(onSubmit)} className="flex flex-col gap-5">
      {formError ? (
        <div
          role="alert"
          data-testid="adjust-error"
          className="flex items-start gap-2 rounded-lg border border-destructive/30 bg-destructive/10 px-3 py-2.5 text-destructive text-sm"
        >
          <CircleX className="mt-0.5 size-4 shrink-0" aria-hidden />
          <span>{formError}</span>
        </div>
      ) : null}
      <div className="grid gap-5 sm:grid-cols-2">
        <Field
          id="adjust-amount"
          label={t("adjustAmount")}
          error={errors.amount?.message}
          hint={t("adjustAmountHint")}
        >
          <Input
            id="adjust-amount"
            inputMode="numeric"
            autoComplete="off"
            placeholder={t("adjustAmountPlaceholder")}
            data-testid="adjust-amount"
            aria-invalid={errors.amount ? true : undefined}
            aria-describedby={errors.amount ? "adjust-amount-error" : "adjust-amount-hint"}
            {...form.register("amount")}
          />
        </Field>
        <Field
          id="adjust-expire"
          label={t("adjustExpireDays")}
          error={errors.expireDays?.message}
          hint={t("adjustExpireDaysHint")}
        >
          <Input
            id="adjust-expire"
            inputMode="numeric"
            autoComplete="off"
            placeholder={t("never")}
            disabled={delta < 0}
            data-testid="adjust-expire-days"
            aria-invalid={errors.expireDays ? true : undefined}
            aria-describedby={errors.expireDays ? "adjust-expire-error" : "adjust-expire-hint"}
            {...form.register("expireDays")}
          />
        </Field>
      </div>
      <Field id="adjust-reason" label={t("adjustReason")} error={errors.reason?.message}>
        <Input
          id="adjust-reason"
          maxLength={500}
          autoComplete="off"
          placeholder={t("adjustReasonPlaceholder")}
          data-testid="adjust-reason"
          aria-invalid={errors.reason ? true : undefined}
          aria-describedby={errors.reason ? "adjust-reason-error" : undefined}
          {...form.register("reason")}
        />
      </Field>
      <div className="flex justify-end">
        <Button
          type="submit"
          variant={delta < 0 ? "destructive" : "default"}
          disabled={isSubmitting}
          aria-busy={isSubmitting}
          data-testid="adjust-submit"
          className="max-sm:w-full"
        >
          {isSubmitting ? (
            <LoaderCircle className="animate-spin" aria-hidden />
          ) : delta < 0 ? (
            <Minus aria-hidden />
          ) : (
            <Plus aria-hidden />
          )}
          {delta > 0
            ? t("adjustGrant", { count: delta })
            : delta < 0
              ? t("adjustDeduct", { count: -delta })
              : t("adjustApply")}
        </Button>
      </div>
    </form>
  );
}

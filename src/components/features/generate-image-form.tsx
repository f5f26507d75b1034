"use client";

import { zodResolver } from "@hookform/resolvers/zod";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CircleAlert, LoaderCircle, Sparkles, Zap } from "lucide-react";
import { useFormatter, useLocale, useTranslations } from "next-intl";
import { useMemo, useState } from "react";
import { useForm } from "react-hook-form";
import { toast } from "sonner";
import { z } from "zod";
import { ApiError, type Balance, creditsKeys } from "@/components/credits/credits-api";
import { useBalance } from "@/components/credits/use-balance";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardAction, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Textarea } from "@/components/ui/textarea";
import { Link, usePathname, useRouter } from "@/i18n/navigation";
import { type GenerateImageAnswer, generateImage } from "./generate-image-api";
import { type Generated, GeneratedImageCard } from "./generated-image-card";

const PROMPT_MIN = 3;
const PROMPT_MAX = 300;
const EXAMPLES = ["example1", "example2", "example3"] as const;

type Shortfall = { cost: number; available: number };

/**
 * The demo metered feature. The price shown is the catalog's, but the server charges its own copy of it;
 * each click sends a new request id, so a double submit is charged once.
 */
export function GenerateImageForm({
  cost,
  initialBalance,
}: {
  cost: number;
  initialBalance: Balance | null;
}) {
  const t = useTranslations("generate");
  const format = useFormatter();
  const locale = useLocale();
  const router = useRouter();
  const pathname = usePathname();
  const queryClient = useQueryClient();
  const balance = useBalance(initialBalance);
  const generation = useMutation({ mutationFn: generateImage });
  const isExecuting = generation.isPending;
  const [generated, setGenerated] = useState<Generated | null>(null);
  const [shortfall, setShortfall] = useState<Shortfall | null>(null);

  const schema = useMemo(
    () =>
      z.object({
        prompt: z.string().trim().min(PROMPT_MIN, t("promptTooShort")).max(PROMPT_MAX, t("promptTooLong")),
      }),
    [t],
  );
  type Values = z.infer<typeof schema>;
  const form = useForm<Values>({ resolver: zodResolver(schema), defaultValues: { prompt: "" } });
  const promptError = form.formState.errors.prompt?.message;
  const promptLength = form.watch("prompt").length;

  function updateBalance(update: (previous: Balance) => Balance) {
    queryClient.setQueryData<Balance>(creditsKeys.balance, (previous) =>
      previous ? update(previous) : previous,
    );
    // The header badge, the credits page and its history all live under ["credits"].
    void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
  }

  async function onSubmit(values: Values) {
    setShortfall(null);
    let answer: GenerateImageAnswer;
    try {
      answer = await generation.mutateAsync({ prompt: values.prompt, requestId: crypto.randomUUID() });
    } catch (error) {
      const code = error instanceof ApiError ? error.code : null;
      if (code === "unauthorized") {
        router.push({ pathname: "/sign-in", query: { next: `/${locale}${pathname}` } });
        return;
      }
      toast.error(code === "rate_limited" ? t("errorRateLimited") : t("error"));
      return;
    }
    if (!answer.ok) {
      const { available } = answer;
      setShortfall({ cost: answer.cost, available });
      updateBalance((previous) => ({ ...previous, available }));
      return;
    }
    const after = answer.balance;
    // The prompt as the server drew and charged it: the form's schema trims it the same way.
    setGenerated({ svg: answer.svg, prompt: values.prompt, cost: answer.cost });
    updateBalance((previous) => ({
      ...previous,
      balance: after,
      available: Math.max(0, after - previous.held),
    }));
  }

  const available = balance.data?.available;

  return (
    <div className="grid items-start gap-6 lg:grid-cols-2">
      <Card>
        <CardHeader>
          <CardTitle className="text-base">{t("formTitle")}</CardTitle>
          <CardDescription>{t("formSubtitle")}</CardDescription>
          <CardAction>
            <Badge variant="outline" className="gap-1.5 rounded-full px-2.5 py-1" data-testid="feature-cost">
              <Zap className="text-primary" aria-hidden />
              {t("cost", { count: cost })}
            </Badge>
          </CardAction>
        </CardHeader>
        <CardContent>
          <form noValidate onSubmit={form.handleSubmit(onSubmit)} className="flex flex-col gap-5">
            <div className="flex flex-col gap-2">
              <div className="flex items-baseline justify-between gap-3">
                <Label htmlFor="prompt">{t("promptLabel")}</Label>
                <span
                  className={
                    promptLength > PROMPT_MAX ? "text-destructive text-xs" : "text-muted-foreground text-xs"
                  }
                  aria-hidden
                >
                  {format.number(promptLength)} / {format.number(PROMPT_MAX)}
                </span>
              </div>
              <Textarea
                id="prompt"
                rows={4}
                className="min-h-28 resize-y"
                placeholder={t("promptPlaceholder")}
                data-testid="prompt-input"
                aria-invalid={promptError ? true : undefined}
                aria-describedby={promptError ? "prompt-error" : "prompt-hint"}
                onKeyDown={(event) => {
                  // Cmd/Ctrl+Enter submits, as in most prompt boxes.
                  if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) {
                    event.preventDefault();
                    void form.handleSubmit(onSubmit)();
                  }
                }}
                {...form.register("prompt")}
              />
              {promptError ? (
                <p id="prompt-error" className="text-destructive text-sm">
                  {promptError}
                </p>
              ) : (
                <p id="prompt-hint" className="text-muted-foreground text-xs">
                  {t("promptHint")}
                </p>
              )}
            </div>

            <div className="flex flex-wrap items-center gap-2">
              <span className="text-muted-foreground text-xs">{t("examplesLabel")}</span>
              {EXAMPLES.map((key) => (
                <button
                  key={key}
                  type="button"
                  onClick={() => form.setValue("prompt", t(key), { shouldValidate: true })}
                  className="rounded-full border bg-secondary/60 px-2.5 py-1 text-xs transition-colors hover:bg-accent"
                >
                  {t(key)}
                </button>
              ))}
            </div>

            {shortfall ? (
              <div
                role="alert"
                data-testid="insufficient-credits"
                className="flex flex-col gap-3 rounded-lg border border-destructive/30 bg-destructive/10 px-4 py-3 text-sm sm:flex-row sm:items-center"
              >
                <CircleAlert className="size-4 shrink-0 text-destructive max-sm:hidden" aria-hidden />
                <div className="flex-1">
                  <p className="font-medium text-destructive">{t("insufficientTitle")}</p>
                  <p className="mt-0.5 text-muted-foreground">
                    {t("insufficientText", { cost: shortfall.cost, available: shortfall.available })}
                  </p>
                </div>
                <Button asChild size="sm" className="self-start sm:self-center">
                  <Link href="/settings/credits" data-testid="buy-credits-link">
                    {t("buyCredits")}
                  </Link>
                </Button>
              </div>
            ) : null}

            <div className="flex flex-col-reverse gap-3 border-t pt-5 sm:flex-row sm:items-center sm:justify-between">
              <p className="text-muted-foreground text-sm">
                {t("balanceLabel")}{" "}
                {available === undefined ? (
                  <Skeleton className="inline-block h-4 w-10 align-middle" />
                ) : (
                  <span className="font-medium text-foreground tabular-nums">
                    <span data-testid="feature-balance">{format.number(available)}</span>{" "}
                    {t("balanceUnit", { count: available })}
                  </span>
                )}
              </p>
              <Button
                type="submit"
                disabled={isExecuting}
                aria-busy={isExecuting}
                data-testid="generate-button"
                className="sm:min-w-36"
              >
                {isExecuting ? (
                  <LoaderCircle className="animate-spin" aria-hidden />
                ) : (
                  <Sparkles aria-hidden />
                )}
                {isExecuting ? t("generating") : t("submit")}
              </Button>
            </div>
          </form>
        </CardContent>
      </Card>

      <GeneratedImageCard generated={generated} generating={isExecuting} />
    </div>
  );
}

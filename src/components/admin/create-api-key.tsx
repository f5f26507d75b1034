"use client";

import { Check, Copy, KeyRound, LoaderCircle, Plus, TriangleAlert } from "lucide-react";
import { useTranslations } from "next-intl";
import { useAction } from "next-safe-action/hooks";
import { type FormEvent, useState } from "react";
import { toast } from "sonner";
import { createApiKeyAction } from "@/actions/admin";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogClose,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useRouter } from "@/i18n/navigation";
import { API_SCOPES, type ApiScope, DEFAULT_API_SCOPES } from "@/service-api/api-scopes";

const NAME_MAX = 100;

/**
 * Creates a key with the scopes ticked and shows it once: only its hash is stored, so closing the dialog
 * loses it for good. The boxes start at DEFAULT_API_SCOPES (read, spend, holds: what a backend metering
 * usage needs); grant, which mints credits, and admin are ticked on purpose.
 */
export function CreateApiKey() {
  const t = useTranslations("admin");
  const tc = useTranslations("common");
  const router = useRouter();
  const { executeAsync, isExecuting } = useAction(createApiKeyAction);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<ApiScope[]>([...DEFAULT_API_SCOPES]);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ key: string; name: string } | null>(null);
  const [copied, setCopied] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > NAME_MAX) {
      setError(t("keyNameInvalid"));
      return;
    }
    if (scopes.length === 0) {
      setError(t("scopesInvalid"));
      return;
    }
    setError(null);
    try {
      const result = await executeAsync({ name: trimmed, scopes });
      if (result?.serverError || !result?.data) {
        setError(result?.serverError?.code === "forbidden" ? t("errorForbidden") : t("errorGeneric"));
        return;
      }
      setCreated({ key: result.data.key, name: result.data.apiKey.name });
      setCopied(false);
      setName("");
      setScopes([...DEFAULT_API_SCOPES]);
      router.refresh();
    } catch {
      setError(t("errorGeneric"));
    }
  }

  function toggle(scope: ApiScope, checked: boolean) {
    setScopes((current) => API_SCOPES.filter((s) => (s === scope ? checked : current.includes(s))));
  }

  async function copy() {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
      toast.success(t("copied"));
    } catch {
      toast.error(t("copyFailed"));
    }
  }

  return (
    <>
      <form noValidate onSubmit={(event) => void submit(event)} className="flex flex-col gap-2">
        <Label htmlFor="api-key-name">{t("keyName")}</Label>
        <div className="flex flex-col gap-2 sm:flex-row">
          <Input
            id="api-key-name"
            value={name}
            maxLength={NAME_MAX}
            autoComplete="off"
            placeholder={t("keyNamePlaceholder")}
            onChange={(event) => setName(event.target.value)}
            data-testid="api-key-name"
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "api-key-name-error" : undefined}
          />
          <Button type="submit" disabled={isExecuting} aria-busy={isExecuting} data-testid="api-key-create">
            {isExecuting ? <LoaderCircle className="animate-spin" aria-hidden /> : <Plus aria-hidden />}
            {t("createKey")}
          </Button>
        </div>
        <fieldset className="flex flex-col gap-1.5" data-testid="api-key-scopes">
          <legend className="mb-1 font-medium text-sm">{t("scopes")}</legend>
          <div className="flex flex-wrap gap-x-5 gap-y-1.5">
            {API_SCOPES.map((scope) => (
              <label
                key={scope}
                className="flex items-center gap-2 text-sm"
                title={t(`scopeDescriptions.${scope}`)}
              >
                <input
                  type="checkbox"
                  className="size-4 accent-primary"
                  checked={scopes.includes(scope)}
                  onChange={(event) => toggle(scope, event.target.checked)}
                  data-testid={`api-key-scope-${scope}`}
                />
                <code className="font-mono text-xs">{scope}</code>
                <span className="text-muted-foreground text-xs">{t(`scopeDescriptions.${scope}`)}</span>
              </label>
            ))}
          </div>
          <p className="text-muted-foreground text-xs">{t("scopesHint")}</p>
        </fieldset>
        {error ? (
          <p id="api-key-name-error" className="text-destructive text-sm">
            {error}
          </p>
        ) : null}
      </form>

      <Dialog open={created !== null} onOpenChange={(open) => (open ? undefined : setCreated(null))}>
        {created ? (
          <DialogContent
            closeLabel={tc("close")}
            data-testid="new-api-key-dialog"
            // The key is shown once: an accidental click outside must not throw it away.
            onInteractOutside={(event) => event.preventDefault()}
          >
            <DialogHeader>
              <DialogTitle className="flex items-center gap-2">
                <KeyRound className="size-5 text-primary" aria-hidden />
                {t("newKeyTitle")}
              </DialogTitle>
              <DialogDescription>{t("newKeyDescription", { name: created.name })}</DialogDescription>
            </DialogHeader>
            <div className="flex items-stretch gap-2">
              <code
                data-testid="new-api-key"
                className="min-w-0 flex-1 select-all break-all rounded-md border bg-muted px-3 py-2 font-mono text-sm"
              >
                {created.key}
              </code>
              <Button
                variant="outline"
                size="icon"
                className="h-auto min-h-9"
                onClick={() => void copy()}
                aria-label={t("copy")}
                data-testid="copy-api-key"
              >
                {copied ? <Check className="text-success" aria-hidden /> : <Copy aria-hidden />}
              </Button>
            </div>
            <p className="flex items-start gap-2 rounded-lg border border-warning/50 bg-warning/10 px-3 py-2.5 text-sm">
              <TriangleAlert className="mt-0.5 size-4 shrink-0" aria-hidden />
              {t("newKeyWarning")}
            </p>
            <DialogFooter>
              <DialogClose asChild>
                <Button data-testid="new-api-key-done">{t("done")}</Button>
              </DialogClose>
            </DialogFooter>
          </DialogContent>
        ) : null}
      </Dialog>
    </>
  );
}

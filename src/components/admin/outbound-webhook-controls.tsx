"use client";

import { LoaderCircle, RotateCw } from "lucide-react";
import { useTranslations } from "next-intl";
import { useAction } from "next-safe-action/hooks";
import { type FormEvent, useState } from "react";
import { toast } from "sonner";
import {
  createWebhookEndpointAction,
  resendWebhookDeliveryAction,
  setWebhookEndpointEnabledAction,
} from "@/actions/outbound-webhooks";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useRouter } from "@/i18n/navigation";
import { OUTBOUND_EVENT_TYPES, type OutboundEventType } from "@/outbound/event-types";
import { BLOCKED_HOST_REASON, PRIVATE_HOST_REASON } from "@/outbound/refusal-reasons";

/**
 * The message key for a refused form: the address policy's refusals (src/outbound/address-policy.ts) get
 * their own words, in the reader's language; anything else the general hint.
 */
function invalidInputMessage(
  errors: { url?: { _errors?: string[] } } | undefined,
): "outboundAddressBlocked" | "outboundAddressPrivate" | "outboundInvalid" {
  const urlErrors = errors?.url?._errors?.join(" ") ?? "";
  if (urlErrors.includes(BLOCKED_HOST_REASON)) return "outboundAddressBlocked";
  if (urlErrors.includes(PRIVATE_HOST_REASON)) return "outboundAddressPrivate";
  return "outboundInvalid";
}

/** Registers an endpoint and shows its signing secret once. */
export function CreateWebhookEndpointForm() {
  const t = useTranslations("admin");
  const router = useRouter();
  const { executeAsync, isExecuting } = useAction(createWebhookEndpointAction);
  const [url, setUrl] = useState("");
  const [types, setTypes] = useState<OutboundEventType[]>([...OUTBOUND_EVENT_TYPES]);
  const [secret, setSecret] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      const result = await executeAsync({ url, eventTypes: types });
      if (!result?.data) {
        toast.error(
          result?.validationErrors ? t(invalidInputMessage(result.validationErrors)) : t("errorGeneric"),
        );
        return;
      }
      setSecret(result.data.secret);
      setUrl("");
      router.refresh();
    } catch {
      toast.error(t("errorGeneric"));
    }
  }

  return (
    <form onSubmit={(event) => void submit(event)} className="grid gap-3" data-testid="outbound-create">
      <div className="grid gap-1.5">
        <Label htmlFor="outbound-url">{t("outboundUrl")}</Label>
        <Input
          id="outbound-url"
          type="url"
          required
          placeholder="https://example.com/hooks/creditkit"
          value={url}
          onChange={(event) => setUrl(event.target.value)}
        />
      </div>
      <fieldset className="grid gap-1.5">
        <legend className="mb-1 font-medium text-sm">{t("outboundEventTypes")}</legend>
        <div className="grid grid-cols-1 gap-1 sm:grid-cols-2">
          {OUTBOUND_EVENT_TYPES.map((type) => (
            <label key={type} className="flex items-center gap-2 font-mono text-xs">
              <input
                type="checkbox"
                checked={types.includes(type)}
                onChange={(event) =>
                  setTypes((current) =>
                    event.target.checked ? [...current, type] : current.filter((item) => item !== type),
                  )
                }
              />
              {type}
            </label>
          ))}
        </div>
      </fieldset>
      <div>
        <Button type="submit" disabled={isExecuting || types.length === 0} aria-busy={isExecuting}>
          {isExecuting && <LoaderCircle className="animate-spin" aria-hidden />}
          {t("outboundCreate")}
        </Button>
      </div>
      {secret && (
        <div role="status" className="grid gap-1 rounded-md border p-3 text-sm">
          <p>{t("outboundSecretOnce")}</p>
          <code className="break-all font-mono text-xs" data-testid="outbound-secret">
            {secret}
          </code>
        </div>
      )}
    </form>
  );
}

/** Turns an endpoint on or off. */
export function ToggleWebhookEndpointButton({
  endpointId,
  enabled,
}: {
  endpointId: string;
  enabled: boolean;
}) {
  const t = useTranslations("admin");
  const router = useRouter();
  const { executeAsync, isExecuting } = useAction(setWebhookEndpointEnabledAction);
  async function toggle() {
    try {
      const result = await executeAsync({ endpointId, enabled: !enabled });
      if (!result?.data) toast.error(t("errorGeneric"));
      router.refresh();
    } catch {
      toast.error(t("errorGeneric"));
    }
  }
  return (
    <Button variant="outline" size="sm" onClick={() => void toggle()} disabled={isExecuting}>
      {enabled ? t("outboundDisable") : t("outboundEnable")}
    </Button>
  );
}

/** Queues a delivery again (same event id). */
export function ResendDeliveryButton({ deliveryId, eventId }: { deliveryId: string; eventId: string }) {
  const t = useTranslations("admin");
  const router = useRouter();
  const { executeAsync, isExecuting } = useAction(resendWebhookDeliveryAction);
  async function resend() {
    try {
      const result = await executeAsync({ deliveryId });
      if (!result?.data) {
        toast.error(t("errorGeneric"));
        return;
      }
      toast.success(t("outboundResent"));
      router.refresh();
    } catch {
      toast.error(t("errorGeneric"));
    }
  }
  return (
    <Button
      variant="outline"
      size="sm"
      onClick={() => void resend()}
      disabled={isExecuting}
      aria-label={t("outboundResendAria", { id: eventId })}
    >
      {isExecuting ? <LoaderCircle className="animate-spin" aria-hidden /> : <RotateCw aria-hidden />}
      {t("outboundResend")}
    </Button>
  );
}

import { getFormatter, getTranslations, setRequestLocale } from "next-intl/server";
import { requireAdmin } from "@/auth/require-admin";
import {
  CreateWebhookEndpointForm,
  ResendDeliveryButton,
  ToggleWebhookEndpointButton,
} from "@/components/admin/outbound-webhook-controls";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { getDb } from "@/db/client";
import { listWebhookDeliveries } from "@/outbound/list-webhook-deliveries";
import { listWebhookEndpoints } from "@/outbound/list-webhook-endpoints";

type PageProps = { params: Promise<{ locale: string }> };

/** Outbound webhooks: the endpoints (create, disable) and the latest deliveries with their attempts. */
export default async function AdminOutboundWebhooksPage({ params }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const db = await getDb();
  const [t, format, endpoints, deliveries] = await Promise.all([
    getTranslations("admin"),
    getFormatter(),
    listWebhookEndpoints(db),
    listWebhookDeliveries(db, { limit: 100, attemptsPerDelivery: 3 }),
  ]);
  const urlOf = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint.url]));
  const when = (date: Date) => format.dateTime(date, { dateStyle: "short", timeStyle: "medium" });

  return (
    <div className="grid gap-4">
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-xl tracking-tight">{t("outboundTitle")}</CardTitle>
          <CardDescription>{t("outboundSubtitle")}</CardDescription>
        </CardHeader>
        <CardContent>
          <CreateWebhookEndpointForm />
        </CardContent>
        <CardContent>
          <h2 className="mb-2 font-medium">{t("outboundEndpoints")}</h2>
          {endpoints.length === 0 ? (
            <p className="text-muted-foreground text-sm">{t("outboundNoEndpoints")}</p>
          ) : (
            <ul className="grid gap-2">
              {endpoints.map((endpoint) => (
                <li
                  key={endpoint.id}
                  className="flex flex-wrap items-center justify-between gap-2 rounded-md border p-3 text-sm"
                >
                  <div className="grid gap-1">
                    <span className="break-all font-mono text-xs">{endpoint.url}</span>
                    <span className="text-muted-foreground text-xs">{endpoint.eventTypes.join(", ")}</span>
                  </div>
                  <div className="flex items-center gap-2">
                    <Badge variant={endpoint.enabled ? "default" : "secondary"}>
                      {endpoint.enabled ? t("outboundEnabled") : t("outboundDisabled")}
                    </Badge>
                    <ToggleWebhookEndpointButton endpointId={endpoint.id} enabled={endpoint.enabled} />
                  </div>
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-lg tracking-tight">{t("outboundDeliveries")}</CardTitle>
        </CardHeader>
        <CardContent>
          {deliveries.length === 0 ? (
            <p className="text-muted-foreground text-sm">{t("outboundNoDeliveries")}</p>
          ) : (
            <ul className="grid gap-2" data-testid="outbound-deliveries">
              {deliveries.map((delivery) => (
                <li key={delivery.id} className="grid gap-1 rounded-md border p-3 text-sm">
                  <div className="flex flex-wrap items-center justify-between gap-2">
                    <span className="font-mono text-xs">
                      {delivery.eventType} · {delivery.eventId}
                    </span>
                    <div className="flex items-center gap-2">
                      <Badge variant={delivery.status === "failed" ? "destructive" : "secondary"}>
                        {t(`outboundStatus.${delivery.status as "pending" | "delivered" | "failed"}`)}
                      </Badge>
                      <ResendDeliveryButton deliveryId={delivery.id} eventId={delivery.eventId} />
                    </div>
                  </div>
                  <span className="text-muted-foreground text-xs">
                    {t("outboundDeliveryLine", {
                      url: urlOf.get(delivery.endpointId) ?? "",
                      userId: delivery.userId,
                      attempts: delivery.attempts,
                      created: when(delivery.createdAt),
                    })}
                  </span>
                  {delivery.recentAttempts.length > 0 && (
                    <ul className="grid gap-0.5 text-xs">
                      {delivery.recentAttempts.map((attempt) => (
                        <li key={attempt.attemptedAt.toISOString()} className="font-mono">
                          {when(attempt.attemptedAt)} · {attempt.statusCode ?? attempt.error} ·{" "}
                          {attempt.durationMs} ms
                          {attempt.responseBody ? ` · ${attempt.responseBody.slice(0, 120)}` : ""}
                        </li>
                      ))}
                    </ul>
                  )}
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
    </div>
  );
}
